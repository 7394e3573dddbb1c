//! Everything that speaks the iManage Work API: sign-in, the HTTP client, typed models and the
//! library walker. Nothing here knows about the repository.

pub mod model;
