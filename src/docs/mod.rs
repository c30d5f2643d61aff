//! Guides: how easydkim works and how to run it, one page per topic.
//!
//! These pages hold no code; each is a chapter to read, with examples that are compiled
//! and run as tests.
//!
//! | page | read it when |
//! |------|--------------|
//! | [`easy_dkim`] | you start: the model (operator, tenants, signing zone), the two layers, a whole setup in 20 lines |
//! | [`dns_setup`] | you write the instructions your tenants follow: what to publish, the usual mistakes, how long it takes |
//! | [`precedence`] | you need to explain why a message was (not) signed, or with which `d=` |
//! | [`lifecycle`] | you turn status events into emails and dashboards: Pending, Success, TemporaryFailure, Failed |
//! | [`rotation`] | you plan key rotation |
//! | [`migrating`] | you come from OpenDKIM's KeyTable/SigningTable or from lettre's DKIM module |

pub mod dns_setup;
pub mod easy_dkim;
pub mod lifecycle;
pub mod migrating;
pub mod precedence;
pub mod rotation;
