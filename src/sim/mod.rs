//! A faithful simulator of the iManage Work API (contract in ../shared/imanage-api.md), used by
//! tests, benchmarks and the demo.
