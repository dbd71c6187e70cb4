//! Sharing a folder: downloading a folder as one archive (`--archives`).

pub(crate) mod archive;
