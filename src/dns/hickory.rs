//! A DnsVerifier on hickory-resolver.
