pub mod keys;
pub mod migrate;
pub mod run;
pub mod workspace;
