//! The HTTP/1.1 wire format: request heads in, response heads out.
//!
//! Sans-I/O: nothing in here names a socket, a file or mio.

pub mod conditional;
pub mod date;
pub mod negotiate;
pub mod request;
pub mod response;
