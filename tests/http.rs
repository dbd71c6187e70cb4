//! Integration tests: a real skiff process on loopback (port 0), spoken to
//! over raw sockets (and curl/wget where a scenario is about them). Every
//! scenario runs against each I/O driver through `each_mode!`.

mod scenarios;
mod support;
