mod basics;
mod cli;
mod demo;
mod errors;
mod logging;
mod paths;
mod persistence;
mod tools;
