//! The PostgreSQL catalog: prerequisites, tables, columns and keys (by the
//! replica identity), the publication, partitions.

use std::collections::HashSet;

use anyhow::{anyhow, Result};

use super::types::{map_type, toastable};
use super::{qi, PgSource};
use crate::config::Config;
use crate::error;
use crate::schema::{Column, TableSchema};
use crate::source::FingerprintChange;
use crate::table::TableId;

/// Compares two partition fingerprints (lines `oid name relfilenode`).
pub fn partition_change(saved: &str, now: &str) -> FingerprintChange {
    let parse = |t: &str| -> Vec<(String, String, String)> {
        t.lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                // oid, name (which may hold spaces), relfilenode
                let (oid, rest) = l.split_once(' ').unwrap_or((l, ""));
                let (name, file) = rest.rsplit_once(' ').unwrap_or((rest, ""));
                (oid.to_string(), name.to_string(), file.to_string())
            })
            .collect()
    };
    let (a, b) = (parse(saved), parse(now));
    let names = |v: &[(String, String, String)], other: &[(String, String, String)]| {
        v.iter()
            .filter(|p| !other.iter().any(|o| o.0 == p.0))
            .map(|p| p.1.clone())
            .collect::<Vec<_>>()
    };
    let (gone, came) = (names(&a, &b), names(&b, &a));
    if !gone.is_empty() || !came.is_empty() {
        let mut what = vec![];
        if !gone.is_empty() {
            what.push(format!(
                "partition(s) {} detached or dropped",
                gone.join(", ")
            ));
        }
        if !came.is_empty() {
            what.push(format!(
                "partition(s) {} attached or created",
                came.join(", ")
            ));
        }
        return FingerprintChange::Changed(format!(
            "{} since its full extract; neither is published, so the destination may hold rows \
             the source no longer has, or lack rows it has",
            what.join(" and ")
        ));
    }
    let rewritten: Vec<String> = a
        .iter()
        .filter(|p| b.iter().any(|o| o.0 == p.0 && o.2 != p.2))
        .map(|p| p.1.clone())
        .collect();
    if rewritten.is_empty() {
        FingerprintChange::Same
    } else {
        FingerprintChange::Rewritten(format!(
            "partition(s) {} truncated or rewritten since the last delta (TRUNCATE, VACUUM FULL, CLUSTER); \
             a TRUNCATE of a single partition is not published, so the destination may still hold its rows",
            rewritten.join(", ")
        ))
    }
}

/// What a table's catalog says about its keys.
pub struct Identity<'a> {
    pub table: (&'a str, &'a str),
    pub columns: &'a [&'a str],
    /// Primary key columns, in key order.
    pub primary: Vec<usize>,
    /// Columns of the `REPLICA IDENTITY USING INDEX` index, in index order.
    pub index: Vec<usize>,
    /// `relreplident`: `d` default (primary key), `i` index, `f` full, `n` nothing.
    pub setting: u8,
}

/// The key ingest merges a table by. Deletes and key changes carry the old
/// values of the replica identity's columns only, so the key must be those
/// columns (the primary key under DEFAULT, the index's columns under USING
/// INDEX), unless the identity is FULL, where any configured key works.
/// NOTHING is refused: adding such a table to the publication would make
/// the source application's own UPDATEs and DELETEs fail.
pub fn resolve_key(t: &Identity<'_>, configured: Option<&[String]>) -> Result<Vec<usize>> {
    let name = format!("{}.{}", t.table.0, t.table.1);
    let alter = format!("ALTER TABLE {}.{}", qi(t.table.0), qi(t.table.1));
    if t.setting == b'n' {
        return Err(error::config(format!(
            "table {name} has REPLICA IDENTITY NOTHING: in a publication its UPDATEs and DELETEs would \
             fail at the source; run {alter} REPLICA IDENTITY DEFAULT (with a primary key) or FULL"
        )));
    }
    let (identity, what) = match t.setting {
        b'i' => (&t.index, "its replica identity index"),
        _ => (&t.primary, "its primary key"),
    };
    let Some(names) = configured else {
        if identity.is_empty() {
            return Err(error::config(format!(
                "table {name} has no primary key: add `key = [\"col\", ...]` to its [[table]] entry \
                 (and run {alter} REPLICA IDENTITY FULL)"
            )));
        }
        return Ok(identity.clone());
    };
    let mut key = vec![];
    for n in names {
        match t.columns.iter().position(|c| c == n) {
            Some(i) => key.push(i),
            None => {
                return Err(error::config(format!(
                    "table {name}: key column \"{n}\" does not exist (columns: {})",
                    t.columns.join(", ")
                )))
            }
        }
    }
    if t.setting != b'f' && key != *identity {
        let why = if identity.is_empty() {
            "has no primary key".to_string()
        } else {
            format!("is keyed by other columns than {what}")
        };
        return Err(error::config(format!(
            "table {name} {why}: deletes and updates carry the old key only with \
             {alter} REPLICA IDENTITY FULL"
        )));
    }
    Ok(key)
}

/// A `keyless` table's row identity: every column pgoutput carries (not
/// generated ones). Its deletes and updates must carry the whole old row:
/// REPLICA IDENTITY FULL.
fn keyless_identity(
    name: &str,
    setting: u8,
    columns: &[crate::schema::Column],
) -> Result<Vec<usize>> {
    if setting != b'f' {
        let (s, t) = name.split_once('.').unwrap_or(("", name));
        return Err(error::config(format!(
            "table {name} is keyless: its deletes and updates must carry the whole old row; \
             run ALTER TABLE {}.{} REPLICA IDENTITY FULL",
            qi(s),
            qi(t)
        )));
    }
    if let Some(c) = columns.iter().find(|c| c.generated) {
        // Its values would be read back from the source by the row's
        // identity, which NULLs and duplicates make no lookup key.
        return Err(error::config(format!(
            "table {name} is keyless and has the generated column {}, which logical replication \
             does not carry and a table without a key cannot read back: give the table a key \
             (`key = [...]`) instead of keyless",
            c.name
        )));
    }
    Ok((0..columns.len()).collect())
}

impl PgSource {
    /// Checks what deltas need; returns the server version.
    pub(super) fn check_prerequisites(&mut self) -> Result<String> {
        let row = &self.q(
            "SELECT current_setting('server_version'), current_setting('wal_level'), \
                    r.rolreplication OR r.rolsuper, current_setting('max_replication_slots')::int \
             FROM pg_roles r WHERE r.rolname = current_user",
            &[],
        )?[0];
        let (version, wal_level, repl, _slots): (String, String, bool, i32) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        if wal_level != "logical" {
            return Err(error::config(format!(
                "source wal_level is '{wal_level}', deltas need 'logical': run ALTER SYSTEM SET wal_level = logical \
                 and restart PostgreSQL"
            )));
        }
        if !repl {
            return Err(error::config(format!(
                "source user {} has no REPLICATION privilege: run ALTER ROLE {} WITH REPLICATION",
                self.cfg.user,
                qi(&self.cfg.user)
            )));
        }
        Ok(version)
    }
    /// All user tables (ordinary and partitioned) as (schema, table).
    pub(super) fn all_tables(&mut self) -> Result<Vec<TableId>> {
        let rows = self.q(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition \
               AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' \
             ORDER BY 1, 2",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| TableId::new(r.get::<_, String>(0), r.get::<_, String>(1)))
            .collect())
    }
    /// Columns, key and destination of one table.
    pub(super) fn describe_table(
        &mut self,
        cfg: &Config,
        schema: &str,
        table: &str,
    ) -> Result<TableSchema> {
        let rows = self.q(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typtype::text, t.typcategory::text, \
                    t.typlen, a.attnotnull, \
                    COALESCE(a.attnum = ANY(i.indkey), false), \
                    COALESCE(array_position(i.indkey::int2[], a.attnum), 0), c.relreplident::text, \
                    a.atttypid, a.atttypmod, \
                    COALESCE(a.attnum = ANY(ri.indkey), false), \
                    COALESCE(array_position(ri.indkey::int2[], a.attnum), 0), c.relfilenode::int8, \
                    a.attgenerated <> '' \
             FROM pg_attribute a \
             JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_type t ON t.oid = a.atttypid \
             LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary \
             LEFT JOIN pg_index ri ON ri.indrelid = c.oid AND ri.indisreplident \
             WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &[&schema, &table],
        )?;
        let name = format!("{schema}.{table}");
        if rows.is_empty() {
            return Err(error::config(format!(
                "table {name} not found in source database {}",
                self.cfg.database
            )));
        }
        let mut columns = vec![];
        let mut pk: Vec<(i32, usize)> = vec![];
        let mut replident: Vec<(i32, usize)> = vec![];
        let mut identity = String::new();
        let mut type_ids = vec![];
        for (i, r) in rows.iter().enumerate() {
            let typtype: String = r.get(2);
            let cat: String = r.get(3);
            let format: String = r.get(1);
            let (dest_type, conv, binary) = map_type(
                &format,
                typtype.bytes().next().unwrap_or(b'b'),
                cat.bytes().next().unwrap_or(b'U'),
            );
            columns.push(Column {
                name: r.get(0),
                source_type: format,
                dest_type,
                conv,
                binary,
                toastable: toastable(r.get(4)),
                nullable: !r.get::<_, bool>(5),
                masked: false,
                generated: r.get(14),
                type_change: None,
            });
            if r.get::<_, bool>(6) {
                pk.push((r.get(7), i));
            }
            identity = r.get(8);
            type_ids.push((r.get::<_, u32>(9), r.get::<_, i32>(10)));
            // int2vector subscripts start at 0: membership is asked apart.
            if r.get::<_, bool>(11) {
                replident.push((r.get(12), i));
            }
        }
        pk.sort();
        replident.sort();
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        let keyless = cfg.rule_for(schema, table).is_some_and(|r| r.keyless);
        let key = if keyless {
            keyless_identity(&name, identity.bytes().next().unwrap_or(b'd'), &columns)?
        } else {
            resolve_key(
                &Identity {
                    table: (schema, table),
                    columns: &names,
                    primary: pk.iter().map(|&(_, i)| i).collect(),
                    index: replident.iter().map(|&(_, i)| i).collect(),
                    setting: identity.bytes().next().unwrap_or(b'd'),
                },
                cfg.rule_for(schema, table).and_then(|r| r.key.as_deref()),
            )?
        };
        if !keyless {
            crate::schema::key_not_null(&name, &columns, &key)?;
        }
        if let Some(&k) = key.iter().find(|&&k| columns[k].generated) {
            return Err(error::config(format!(
                "table {name}: key column {} is generated, and logical replication does not \
                 carry generated columns: choose another key (`key = [...]`)",
                columns[k].name
            )));
        }
        let (dest_db, dest_table) = cfg.dest_name(&self.cfg.database, schema, table);
        self.types.insert(TableId::new(schema, table), type_ids);
        self.files
            .insert(TableId::new(schema, table), rows[0].get::<_, i64>(13));
        let mut s = TableSchema {
            schema: schema.into(),
            name: table.into(),
            dest_db,
            dest_table,
            columns,
            key,
            min_year: cfg.destination.dialect.min_year(),
            filter: None,
            bad_value_fail: false,
            history: None,
            keyless,
            hashed_key: vec![],
        };
        crate::schema::apply_rule(&mut s, cfg.rule_for(schema, table))?;
        crate::schema::apply_history(&mut s, cfg.history_for(schema, table))?;
        if let (Some(_), Some(g), true) = (
            &s.history,
            s.columns.iter().find(|c| c.generated),
            self.version < 180_000,
        ) {
            // Read back by key after the slot, its values would be today's
            // in every version of the batch.
            return Err(error::config(format!(
                "table {name} keeps history and has the generated column {}, which PostgreSQL \
                 before 18 does not log: its versions would carry the value read afterwards; \
                 use PostgreSQL 18 (publish_generated_columns) or keep the table without history",
                g.name
            )));
        }
        Ok(s)
    }
    /// Makes sure the publication exists and holds these tables.
    pub fn ensure_publication(&mut self, tables: &[TableId]) -> Result<()> {
        let pubname = self.cfg.publication.clone();
        let exists = !self
            .q(
                "SELECT 1 FROM pg_publication WHERE pubname = $1",
                &[&pubname],
            )?
            .is_empty();
        let list = |ts: &[&TableId]| {
            ts.iter()
                .map(|id| format!("{}.{}", qi(&id.schema), qi(&id.name)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        // PostgreSQL 18 publishes stored generated columns when asked
        // (before, their values are read back from the source by key).
        let gencols = self.version >= 180_000;
        if !exists {
            let all: Vec<&TableId> = tables.iter().collect();
            // Partitioned tables publish their changes under their own name.
            let sql = format!(
                "CREATE PUBLICATION {} FOR TABLE {} WITH (publish_via_partition_root = true{})",
                qi(&pubname),
                list(&all),
                if gencols {
                    ", publish_generated_columns = stored"
                } else {
                    ""
                }
            );
            self.client
                .batch_execute(&sql)
                .map_err(|e| anyhow!("{}: {sql}", error::pg_message(&e)))?;
            log::info!(
                "created publication {pubname} for {} table(s)",
                tables.len()
            );
            return Ok(());
        }
        let via_root: bool = self.q(
            "SELECT pubviaroot FROM pg_publication WHERE pubname = $1",
            &[&pubname],
        )?[0]
            .get(0);
        if !via_root {
            let sql = format!(
                "ALTER PUBLICATION {} SET (publish_via_partition_root = true)",
                qi(&pubname)
            );
            self.client
                .batch_execute(&sql)
                .map_err(|e| anyhow!("{}: {sql}", error::pg_message(&e)))?;
            log::info!("publication {pubname}: set publish_via_partition_root = true");
        }
        if gencols {
            let stored: bool = self.q(
                "SELECT pubgencols = 's' FROM pg_publication WHERE pubname = $1",
                &[&pubname],
            )?[0]
                .get(0);
            if !stored {
                let sql = format!(
                    "ALTER PUBLICATION {} SET (publish_generated_columns = stored)",
                    qi(&pubname)
                );
                self.client
                    .batch_execute(&sql)
                    .map_err(|e| anyhow!("{}: {sql}", error::pg_message(&e)))?;
                log::info!("publication {pubname}: set publish_generated_columns = stored");
            }
        }
        let mut have = HashSet::new();
        for id in tables {
            if self.published(&id.schema, &id.name)? {
                have.insert(id.clone());
            }
        }
        let missing: Vec<&TableId> = tables.iter().filter(|t| !have.contains(*t)).collect();
        if !missing.is_empty() {
            let sql = format!(
                "ALTER PUBLICATION {} ADD TABLE {}",
                qi(&pubname),
                list(&missing)
            );
            self.client
                .batch_execute(&sql)
                .map_err(|e| anyhow!("{}: {sql}", error::pg_message(&e)))?;
            log::info!("added {} table(s) to publication {pubname}", missing.len());
            self.wait_for_older_writers()?;
        }
        Ok(())
    }

    /// Waits until every transaction that was writing when tables joined
    /// the publication has ended. Whether a change is published is decided
    /// by the catalog as it was at that change: rows such a transaction
    /// wrote to a new table before the ALTER are not published, and a
    /// snapshot taken before it commits does not see them either. Once it
    /// has ended, the snapshot that follows holds them.
    fn wait_for_older_writers(&mut self) -> Result<()> {
        let since: String = self
            .client
            .query_one("SELECT clock_timestamp()::text", &[])?
            .get(0);
        let start = std::time::Instant::now();
        let mut told = false;
        loop {
            let rows = self.client.query(
                "SELECT pid FROM pg_stat_activity WHERE backend_xid IS NOT NULL \
                 AND xact_start < $1::text::timestamptz AND pid <> pg_backend_pid() \
                 AND datname = current_database()",
                &[&since],
            )?;
            if rows.is_empty() {
                return Ok(());
            }
            let pids: Vec<String> = rows
                .iter()
                .map(|r| r.get::<_, i32>(0).to_string())
                .collect();
            if start.elapsed() > std::time::Duration::from_secs(1800) {
                return Err(error::config(format!(
                    "transactions open since before tables joined the publication are still open after 30 \
                     minutes (backend pid {}): end them (their rows in the new tables would be lost), then \
                     run the full extract again",
                    pids.join(", ")
                )));
            }
            if !told && start.elapsed() > std::time::Duration::from_secs(2) {
                log::warn!(
                    "waiting for transactions older than the publication change to end (backend pid {}): \
                     their rows in the new tables would be neither published nor in the snapshot",
                    pids.join(", ")
                );
                told = true;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
    /// Whether the publication publishes this table's changes.
    pub fn published(&mut self, schema: &str, table: &str) -> Result<bool> {
        let pubname = self.cfg.publication.clone();
        // Direct membership, a schema in the publication (PG 15), or all tables;
        // pg_publication_tables would list partitions instead of their root.
        let schemas = if self.version >= 150000 {
            " OR EXISTS (SELECT 1 FROM pg_catalog.pg_publication_namespace pn \
               WHERE pn.pnpubid = p.oid AND pn.pnnspid = n.oid)"
        } else {
            ""
        };
        let sql = format!(
            "SELECT 1 FROM pg_publication p \
             JOIN pg_class c ON true JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE p.pubname = $1 AND n.nspname = $2 AND c.relname = $3 AND (p.puballtables \
                OR EXISTS (SELECT 1 FROM pg_publication_rel r WHERE r.prpubid = p.oid AND r.prrelid = c.oid){schemas})"
        );
        let rows = self.q(&sql, &[&pubname, &schema, &table])?;
        Ok(!rows.is_empty())
    }
    /// The table's kind (`r` table, `p` partitioned, ...), its size in
    /// blocks and in bytes.
    pub(super) fn relation(&mut self, s: &TableSchema) -> Result<(String, i64, i64)> {
        let rows = self.q(
            "SELECT c.relkind::text, pg_relation_size(c.oid) / current_setting('block_size')::bigint, \
             pg_relation_size(c.oid) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2",
            &[&s.schema, &s.name],
        )?;
        Ok(rows
            .first()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .unwrap_or_default())
    }
    /// A partitioned table's leaf partitions, each as `oid name relfilenode`:
    /// a partition attached, detached or dropped changes the list, and a
    /// TRUNCATE of one partition (never published under
    /// `publish_via_partition_root`) gives it a new file.
    pub(super) fn partition_fingerprint(&mut self, s: &TableSchema) -> Result<Option<String>> {
        let (kind, _, _) = self.relation(s)?;
        if kind != "p" {
            return Ok(None);
        }
        let rows = self.q(
            "SELECT c.oid::bigint, c.oid::regclass::text, c.relfilenode::bigint \
             FROM pg_partition_tree(format('%I.%I', $1::text, $2::text)::regclass) pt \
             JOIN pg_class c ON c.oid = pt.relid WHERE pt.isleaf ORDER BY 1",
            &[&s.schema, &s.name],
        )?;
        Ok(Some(
            rows.iter()
                .map(|r| {
                    format!(
                        "{} {} {}",
                        r.get::<_, i64>(0),
                        r.get::<_, String>(1),
                        r.get::<_, i64>(2)
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_changes() {
        let saved = "16400 public.p_eu 16400\n16405 public.p_us 16405";
        assert_eq!(partition_change(saved, saved), FingerprintChange::Same);
        let truncated = "16400 public.p_eu 16410\n16405 public.p_us 16405";
        assert!(
            matches!(partition_change(saved, truncated), FingerprintChange::Rewritten(w) if w.contains("public.p_eu"))
        );
        let detached = "16405 public.p_us 16405";
        assert!(
            matches!(partition_change(saved, detached), FingerprintChange::Changed(w) if w.contains("p_eu detached"))
        );
        let attached = format!("{saved}\n16420 public.p_asia 16420");
        // A name with spaces, renamed: not a rewrite.
        assert_eq!(
            partition_change("1 public.\"p eu\" 5", "1 public.\"p europe\" 5"),
            FingerprintChange::Same
        );
        assert!(
            matches!(partition_change(saved, &attached), FingerprintChange::Changed(w) if w.contains("p_asia attached"))
        );
    }
    #[test]
    fn keys_follow_the_replica_identity() {
        let cols = ["id", "code", "v"];
        let t = |setting, primary: Vec<usize>, index: Vec<usize>| Identity {
            table: ("public", "t"),
            columns: &cols,
            primary,
            index,
            setting,
        };
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            resolve_key(&t(b'd', vec![0], vec![]), None).unwrap(),
            vec![0]
        );
        // USING INDEX: the index's columns, with or without a primary key.
        assert_eq!(
            resolve_key(&t(b'i', vec![], vec![1]), None).unwrap(),
            vec![1]
        );
        assert_eq!(
            resolve_key(&t(b'i', vec![0], vec![1]), None).unwrap(),
            vec![1]
        );
        assert_eq!(
            resolve_key(&t(b'i', vec![], vec![1]), Some(&own(&["code"]))).unwrap(),
            vec![1]
        );
        let e = resolve_key(&t(b'i', vec![0], vec![1]), Some(&own(&["id"]))).unwrap_err();
        assert!(e.to_string().contains("replica identity index"), "{e}");
        // FULL takes any configured key; DEFAULT only the primary key.
        assert_eq!(
            resolve_key(&t(b'f', vec![], vec![]), Some(&own(&["v", "id"]))).unwrap(),
            vec![2, 0]
        );
        assert!(resolve_key(&t(b'd', vec![0], vec![]), Some(&own(&["v"]))).is_err());
        assert!(resolve_key(&t(b'd', vec![], vec![]), None)
            .unwrap_err()
            .to_string()
            .contains("no primary key"));
        let e = resolve_key(&t(b'n', vec![0], vec![]), None).unwrap_err();
        assert!(e.to_string().contains("REPLICA IDENTITY NOTHING"), "{e}");
        assert!(resolve_key(&t(b'f', vec![0], vec![]), Some(&own(&["nope"]))).is_err());
    }
}
