//! The states state.db keeps, as types. Each is stored as the same text as
//! before they were types (`ready`, `released`, ...), so state.db files of
//! earlier versions read unchanged.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            /// The text state.db stores.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
                let s = v.as_str()?;
                $name::parse(s).ok_or_else(|| {
                    FromSqlError::Other(format!(concat!("unknown ", stringify!($name), " '{}'"), s).into())
                })
            }
        }
    };
}

text_enum! {
    /// A selected source table, as its last full extract left it.
    TableState {
        /// Its full extract is under way (or was killed).
        Extracting = "extracting",
        /// Its changes are merged by deltas.
        Ready = "ready",
        /// It needs a new full extract (the reason is kept with it).
        Failed = "failed",
    }
}

text_enum! {
    /// A delta batch (one spool folder).
    BatchState {
        /// Durable in the spool and recorded; not yet released.
        Extracted = "extracted",
        /// Merged, and its position released at the source.
        Released = "released",
        /// Its spool folder vanished before it was merged: read again.
        Lost = "lost",
    }
}

text_enum! {
    /// One table of a batch.
    BatchTableState {
        Pending = "pending",
        Loaded = "loaded",
        /// Its last load failed; tried again by the next run.
        Failed = "failed",
        /// A full extract of the table landed since: not needed.
        Superseded = "superseded",
        /// Given up after failed loads; the table needs a full extract.
        Abandoned = "abandoned",
    }
}

text_enum! {
    /// How a run ended.
    RunStatus {
        Running = "running",
        Ok = "ok",
        /// It finished, but some tables failed.
        Failed = "failed",
        /// It stopped on an error.
        Error = "error",
    }
}

text_enum! {
    /// One table in one run.
    RunTableStatus {
        Extracted = "extracted",
        Loaded = "loaded",
        Failed = "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_keep_their_stored_text() {
        for s in ["extracting", "ready", "failed"] {
            assert_eq!(TableState::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(BatchState::Released.to_string(), "released");
        assert_eq!(
            BatchTableState::parse("abandoned"),
            Some(BatchTableState::Abandoned)
        );
        assert_eq!(RunStatus::parse("nope"), None);
        assert_eq!(RunTableStatus::Loaded.as_str(), "loaded");
    }
}
