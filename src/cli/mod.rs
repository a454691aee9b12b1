//! The commands that report rather than run: `check`, `tables`, `status`, `sql`,
//! and what they print.

mod check;
pub mod report;
mod sql;
mod status;
mod tables;

pub use check::check;
pub use sql::sql;
pub use status::status;
pub use tables::tables;
