//! The commands that report rather than run: `check`, `tables`, `status`,
//! and what they print.

mod check;
mod status;
mod tables;

pub use check::check;
pub use status::status;
pub use tables::tables;
