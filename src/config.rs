//! Resolved, validated settings.
