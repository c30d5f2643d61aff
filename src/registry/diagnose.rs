//! Setup diagnostics: what a tenant got wrong in DNS, and how to fix it.
