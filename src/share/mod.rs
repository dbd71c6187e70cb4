//! Sharing a folder: downloading a folder as one archive (`--archives`),
//! and uploads (`--upload`).

pub(crate) mod archive;
pub mod upload;
