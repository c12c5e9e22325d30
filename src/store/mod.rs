//! Adapters to the Worker's storage bindings. `d1` is the one gate every D1 statement passes.

pub mod d1;
