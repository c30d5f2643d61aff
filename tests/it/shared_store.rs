//! SharedRegistry over the single-node FileRegistryStore.
