//! Persistent stores for the registry state.
