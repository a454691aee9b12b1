//! Names of tables at the boundaries: [`TableId`] (schema and table at the
//! source) and [`TableError`] (why one table cannot go on, where in the log).

use std::fmt;

/// A source table: PostgreSQL schema or MySQL database, and the table.
/// Written `schema.table` in state.db, logs and messages.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableId {
    pub schema: String,
    pub name: String,
}

impl TableId {
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        TableId {
            schema: schema.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// One table cannot be replicated until its full extract: why, with the
/// fix, and the log position where that was found (if it was found reading
/// the log). Other tables go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableError {
    pub table: TableId,
    /// Position in the change log, as the source writes it.
    pub at: Option<String>,
    /// Why, with the fix.
    pub why: String,
    /// A structure change: where the table's changes stopped (the start of
    /// the transaction that has it), to go on from after `sync-struct`.
    pub resume: Option<String>,
    /// The DDL statements the log showed for the table from there on.
    pub ddl: Vec<String>,
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.table, self.why)
    }
}

impl std::error::Error for TableError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_written_schema_dot_table_and_order_by_schema_first() {
        let a = TableId::new("public", "b");
        let b = TableId::new("sales", "a");
        assert_eq!(a.to_string(), "public.b");
        assert!(a < b);
        let e = TableError {
            table: b,
            at: Some("0/16B3748".into()),
            why: "structure changed".into(),
            resume: None,
            ddl: vec![],
        };
        assert_eq!(e.to_string(), "sales.a: structure changed");
    }
}
