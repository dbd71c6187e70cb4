//! The file side: finding a file under the root and sending its bytes.

pub mod body;
pub mod cache;
pub mod compress;
pub mod listing;
pub mod resolve;
