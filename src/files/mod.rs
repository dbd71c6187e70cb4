//! The file side: finding a file under the root and sending its bytes.

pub(crate) mod body;
pub(crate) mod cache;
pub(crate) mod compress;
pub(crate) mod listing;
pub(crate) mod produced;
pub mod resolve;
