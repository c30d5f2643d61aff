//! Many nodes in separate processes sharing one PostgreSQL store.
