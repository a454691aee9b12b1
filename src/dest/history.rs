//! Type-2 history (`history = true`): the SQL that merges a batch, or a
//! full extract, into a table that keeps every version of a row (pure
//! text, unit-tested in `history_tests.rs` and run on MariaDB by
//! `tests/it/history.rs`).
//!
//! A history table has the source's columns plus `start`, `end` and `op`
//! (names from `[history]`); its key is the source key plus `start`. The
//! current version of a key ends at `open_end`. A version starts at the
//! commit time of the change that made it.
//!
//! A merge, set-based, in one transaction:
//! 1. each TRUNCATE of the batch becomes a `D` line for every key live at
//!    that point (staged lines before it, else the target's current
//!    versions);
//! 2. the **events** (helper table `__ingest_merge`): each line's start is
//!    its time, but never before the key's **edge** (the latest start or
//!    end the target holds for it) nor before an earlier line of the key
//!    (source clocks are not monotonic: MySQL writes a transaction's start
//!    second, PostgreSQL's commit times can be microseconds out of order).
//!    Lines of a key that start at the same instant are one event, the
//!    last line's (a transaction's intermediate states were never
//!    visible). Unchanged (TOAST) values are filled from the key's earlier
//!    lines, else from its latest version. With `max_updates = n`, a key's
//!    first `n - 1` and last version events are kept (deletes always);
//! 3. versions of the target that start where an event starts are removed
//!    (the event replaces them: a version made at the same instant);
//! 4. the key's current version ends where its first event starts;
//! 5. each version event becomes a version ending where the key's next
//!    event starts (else open); with `keep_deleted`, a delete of a live
//!    version becomes a `D` version with that version's values. `op` is
//!    `I` when the key had no live version just before, else `U`.
//!
//! **Replaying a batch** (a crash after the destination committed, before
//! state.db did) changes nothing: the target's edge for each key is then
//! the batch's last event, so every line of the batch starts there and
//! they make that one event again, which replaces itself; the versions
//! before it are kept. A `rollback` reads older changes again the same
//! way: they never add versions before the edge, so nothing is doubled or
//! reordered, and the current versions end equal to the source.

use super::sql::{
    helper_name, helper_ref, key_join as join, key_list as plain_keys, listed, lit, q, table_ref,
    Bk, Flavor, FILL, STAGE,
};
use crate::config::Dialect;
use crate::schema::{History, TableSchema};

fn h(s: &TableSchema) -> &History {
    s.history
        .as_ref()
        .expect("history SQL is only made for history tables")
}

fn keys(s: &TableSchema, alias: &str) -> String {
    listed(s, s.key.iter().copied(), alias)
}

fn cols(s: &TableSchema) -> String {
    listed(s, 0..s.columns.len(), "")
}

/// What a batch holds for one history table, as far as its merge cares.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lines<'a> {
    /// The batch's TRUNCATEs (`_seq`, time).
    pub truncates: &'a [(u64, String)],
    /// Some line lacks unchanged (TOAST) values.
    pub unchanged: bool,
    /// Each key has one line (the spool writer knows).
    pub keys_unique: bool,
}

/// The statements of a delta's merge into a history table, in order, in
/// one transaction. A batch with one line per key, no TRUNCATE and no
/// unchanged values makes one event per key without window functions
/// (the same events: measured 2x faster on the bench's batch).
pub fn merge(s: &TableSchema, f: &Flavor, lines: Lines) -> Vec<String> {
    let Lines {
        truncates,
        unchanged,
        keys_unique,
    } = lines;
    let hi = h(s);
    let b = Bk::of(s);
    let (op, seq, ts, unch) = (b.op(), b.seq(), b.ts(), b.unch());
    let target = table_ref(&s.dest_db, &s.dest_table);
    let stage = helper_ref(s, f, STAGE);
    let open = lit(&hi.open_end);
    let (en, hop) = (q(&hi.end), q(&hi.op));
    let mut out = vec![];
    for (tseq, tts) in truncates {
        out.push(format!(
            "INSERT INTO {stage} ({op}, {seq}, {ts}, {unch}, {k}) \
             SELECT 'D', {tseq}, {tts}, NULL, {zk} FROM (\
             SELECT {lk} FROM (SELECT {xk}, x.{op}, ROW_NUMBER() OVER (PARTITION BY {xk} ORDER BY x.{seq} DESC) AS {rn} \
             FROM {stage} x WHERE x.{seq} < {tseq}) l WHERE l.{rn} = 1 AND l.{op} <> 'D' \
             UNION ALL \
             SELECT {tk} FROM {target} t WHERE t.{en} = {open} AND t.{hop} <> 'D' \
             AND NOT EXISTS (SELECT 1 FROM {stage} x WHERE {xt} AND x.{seq} < {tseq})) z",
            tts = lit(tts),
            k = plain_keys(s),
            zk = keys(s, "z"),
            lk = keys(s, "l"),
            xk = keys(s, "x"),
            tk = keys(s, "t"),
            xt = join(s, "x", "t"),
            rn = b.col("rn"),
        ));
    }
    let once = keys_unique && truncates.is_empty() && !unchanged;
    if once {
        out.push(format!(
            "INSERT INTO {events} ({op}, {seq}, {ts}, {unch}, {c}) \
             SELECT CASE WHEN x.{op} = 'D' THEN 'D' ELSE 'V' END, x.{seq}, \
             GREATEST(x.{ts}, COALESCE({edge}, x.{ts})), NULL, {xc} FROM {stage} x",
            events = helper_ref(s, f, FILL),
            c = cols(s),
            xc = listed(s, 0..s.columns.len(), "x"),
            edge = edge_of(s, &target, "x"),
        ));
    } else {
        out.push(events_from_lines(s, f, unchanged));
    }
    out.extend(apply_events(s, f, once));
    out
}

/// Step 2: the batch's lines → the events (into `__ingest_merge`).
fn events_from_lines(s: &TableSchema, f: &Flavor, unchanged: bool) -> String {
    let hi = h(s);
    let b = Bk::of(s);
    let (op, seq, ts, unch) = (b.op(), b.seq(), b.ts(), b.unch());
    let (eff, last, rn) = (b.col("eff"), b.col("last"), b.col("rn"));
    let (isd, r, n) = (b.col("isd"), b.col("r"), b.col("n"));
    let target = table_ref(&s.dest_db, &s.dest_table);
    let stage = helper_ref(s, f, STAGE);
    let events = helper_ref(s, f, FILL);
    let toast: Vec<usize> = if unchanged {
        (0..s.columns.len())
            .filter(|&i| s.columns[i].toastable && !s.is_key(i))
            .collect()
    } else {
        vec![]
    };
    // As in the mirror merge: a column is carried unless its position is
    // in the line's `_unch` list; ENUMs are copied by index (MySQL).
    let carried = |i: usize| {
        format!(
            "(x.{unch} IS NULL OR INSTR(CONCAT(',', x.{unch}, ','), ',{},') = 0)",
            i + 1
        )
    };
    let by_index = |i: usize| {
        f.dialect == Dialect::Mysql
            && crate::schema::enum_error_text(&s.columns[i].source_type).is_some()
    };
    let plus = |i: usize| if by_index(i) { " + 0" } else { "" };
    let mut groups = String::new();
    let mut firsts = String::new();
    for &i in &toast {
        groups.push_str(&format!(
            ", SUM(CASE WHEN {} THEN 1 ELSE 0 END) OVER (PARTITION BY {xk} ORDER BY x.{seq} \
             ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS {g}",
            carried(i),
            xk = keys(s, "x"),
            g = b.col(&format!("g{i}")),
        ));
        firsts.push_str(&format!(
            ", FIRST_VALUE(x1.{c}{p}) OVER (PARTITION BY {yk}, x1.{g} ORDER BY x1.{seq}) AS {fv}",
            c = q(&s.columns[i].name),
            p = plus(i),
            yk = keys(s, "x1"),
            g = b.col(&format!("g{i}")),
            fv = b.col(&format!("f{i}")),
        ));
    }
    let values = s
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let n = q(&c.name);
            if toast.contains(&i) {
                format!(
                    "CASE WHEN y.{g} = 0 THEN t.{n}{p} ELSE y.{fv} END AS {n}",
                    g = b.col(&format!("g{i}")),
                    fv = b.col(&format!("f{i}")),
                    p = plus(i),
                )
            } else {
                format!("y.{n} AS {n}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let latest = if toast.is_empty() {
        String::new()
    } else {
        format!(
            " LEFT JOIN {target} t ON {} AND t.{} = y.{last}",
            join(s, "t", "y"),
            q(&hi.start)
        )
    };
    let keep = match hi.max_updates {
        0 => String::new(),
        m => format!(" WHERE w.{isd} = 1 OR w.{r} < {m} OR w.{r} = w.{n}"),
    };
    let ignore = if toast.iter().any(|&i| by_index(i)) {
        "IGNORE "
    } else {
        ""
    };
    let c = cols(s);
    let wc = listed(s, 0..s.columns.len(), "w");
    format!(
        "INSERT {ignore}INTO {events} ({op}, {seq}, {ts}, {unch}, {c}) \
         SELECT CASE WHEN w.{isd} = 1 THEN 'D' ELSE 'V' END, w.{seq}, w.{eff}, NULL, {wc} FROM (\
         SELECT z.*, ROW_NUMBER() OVER (PARTITION BY {zk}, z.{isd} ORDER BY z.{eff}) AS {r}, \
         COUNT(*) OVER (PARTITION BY {zk}, z.{isd}) AS {n} FROM (\
         SELECT y.{seq}, y.{eff}, CASE WHEN y.{op} = 'D' THEN 1 ELSE 0 END AS {isd}, {values} FROM (\
         SELECT x1.*, ROW_NUMBER() OVER (PARTITION BY {x1k}, x1.{eff} ORDER BY x1.{seq} DESC) AS {rn}{firsts} FROM (\
         SELECT x.*, GREATEST(MAX(x.{ts}) OVER (PARTITION BY {xk} ORDER BY x.{seq} \
         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW), COALESCE({edge}, x.{ts})) AS {eff}, \
         {latest_start} AS {last}{groups} \
         FROM {stage} x) x1) y{latest} WHERE y.{rn} = 1) z) w{keep}",
        zk = keys(s, "z"),
        x1k = keys(s, "x1"),
        xk = keys(s, "x"),
        edge = edge_of(s, &target, "x"),
        latest_start = if toast.is_empty() {
            "NULL".to_string()
        } else {
            format!(
                "(SELECT MAX(v.{st}) FROM {target} v WHERE {j})",
                st = q(&hi.start),
                j = join(s, "v", "x")
            )
        },
    )
}

/// The edge of the key of row `alias` (a lookup by the target's key).
fn edge_of(s: &TableSchema, target: &str, alias: &str) -> String {
    let hi = h(s);
    let (st, en) = (q(&hi.start), q(&hi.end));
    format!(
        "(SELECT MAX(CASE WHEN v.{en} = {open} THEN v.{st} ELSE v.{en} END) FROM {target} v WHERE {j})",
        open = lit(&hi.open_end),
        j = join(s, "v", alias),
    )
}

/// Steps 3 to 5, from the events in `__ingest_merge` (`once`: one event
/// per key).
fn apply_events(s: &TableSchema, f: &Flavor, once: bool) -> Vec<String> {
    let hi = h(s);
    let b = Bk::of(s);
    let (op, ts) = (b.op(), b.ts());
    let (first, nxt, prv) = (b.col("first"), b.col("nxt"), b.col("prv"));
    let target = table_ref(&s.dest_db, &s.dest_table);
    let events = helper_ref(s, f, FILL);
    let open = lit(&hi.open_end);
    let (st, en, hop) = (q(&hi.start), q(&hi.end), q(&hi.op));
    let mut out = vec![format!(
        "DELETE t FROM {target} t JOIN {events} e ON {} AND t.{st} = e.{ts}",
        join(s, "t", "e")
    )];
    let p0 = q(&s.columns[s.key[0]].name);
    let pj = join(s, "p", "e");
    let predecessor = format!(
        "LEFT JOIN {target} p ON {pj} AND p.{st} < e.{ts} AND p.{en} = e.{ts} AND p.{hop} <> 'D'"
    );
    // A version's values: the event's; a `D` version (keep_deleted) takes,
    // for each non-key column, what `deleted` says (the values it ends).
    let values = |deleted: &mut dyn FnMut(usize, &str) -> String| {
        s.columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let n = q(&c.name);
                if s.is_key(i) || !hi.keep_deleted {
                    format!("e.{n}")
                } else {
                    format!(
                        "CASE WHEN e.{op} = 'D' THEN {} ELSE e.{n} END",
                        deleted(i, &n)
                    )
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if once {
        // One event per key: none before or after it in the batch, so no
        // window functions and no derived tables.
        out.push(format!(
            "UPDATE {target} t JOIN {events} e ON {j} SET t.{en} = e.{ts} \
             WHERE t.{en} = {open} AND t.{st} < e.{ts}",
            j = join(s, "t", "e"),
        ));
        let values = values(&mut |_, n| format!("p.{n}"));
        let which = if hi.keep_deleted {
            format!("e.{op} = 'V' OR p.{p0} IS NOT NULL")
        } else {
            format!("e.{op} = 'V'")
        };
        out.push(format!(
            "INSERT INTO {target} ({c}, {st}, {en}, {hop}) \
             SELECT {values}, e.{ts}, {open}, \
             CASE WHEN e.{op} = 'D' THEN 'D' WHEN p.{p0} IS NULL THEN 'I' ELSE 'U' END \
             FROM {events} e {predecessor} WHERE {which}",
            c = cols(s),
        ));
        return out;
    }
    out.push(format!(
        "UPDATE {target} t JOIN (SELECT {ek}, MIN(e.{ts}) AS {first} FROM {events} e GROUP BY {ek}) e \
         ON {j} SET t.{en} = e.{first} WHERE t.{en} = {open} AND t.{st} < e.{first}",
        ek = keys(s, "e"),
        j = join(s, "t", "e"),
    ));
    let by_ts = format!("OVER (PARTITION BY {} ORDER BY e.{ts})", keys(s, "e"));
    let mut lags = String::new();
    let values = values(&mut |i, n| {
        let l = b.col(&format!("l{i}"));
        lags.push_str(&format!(", LAG(e.{n}) {by_ts} AS {l}"));
        format!("(CASE WHEN e.{prv} IS NULL THEN p.{n} ELSE e.{l} END)")
    });
    let which = if hi.keep_deleted {
        format!("e.{op} = 'V' OR (e.{prv} = 'V') OR (e.{prv} IS NULL AND p.{p0} IS NOT NULL)")
    } else {
        format!("e.{op} = 'V'")
    };
    out.push(format!(
        "INSERT INTO {target} ({c}, {st}, {en}, {hop}) \
         SELECT {values}, e.{ts}, COALESCE(e.{nxt}, {open}), \
         CASE WHEN e.{op} = 'D' THEN 'D' WHEN e.{prv} IS NULL THEN (CASE WHEN p.{p0} IS NULL THEN 'I' ELSE 'U' END) \
         WHEN e.{prv} = 'D' THEN 'I' ELSE 'U' END FROM (\
         SELECT e.*, LEAD(e.{ts}) {by_ts} AS {nxt}, LAG(e.{op}) {by_ts} AS {prv}{lags} FROM {events} e) e \
         {predecessor} WHERE {which}",
        c = cols(s),
    ));
    out
}

/// A full extract into an existing history table: the snapshot (in
/// `<table>__ingest_new`, its versions starting at the snapshot's time)
/// is compared with the current versions. A key whose values differ, or
/// that has no live version, gets a version; a live key the snapshot lacks
/// is deleted; the others are left as they are. The same steps 3 to 5 as
/// a merge follow, so running it again changes nothing.
pub fn merge_snapshot(s: &TableSchema, f: &Flavor, snap_ts: &str) -> Vec<String> {
    let hi = h(s);
    let b = Bk::of(s);
    let (op, seq, ts, unch) = (b.op(), b.seq(), b.ts(), b.unch());
    let target = table_ref(&s.dest_db, &s.dest_table);
    let new = table_ref(&s.dest_db, &helper_name(&s.dest_table, "new"));
    let events = helper_ref(s, f, FILL);
    let open = lit(&hi.open_end);
    let (st, en, hop) = (q(&hi.start), q(&hi.end), q(&hi.op));
    let p0 = q(&s.columns[s.key[0]].name);
    let differs = (0..s.columns.len())
        .filter(|&i| !s.is_key(i))
        .map(|i| {
            let c = q(&s.columns[i].name);
            format!("n.{c} <=> t.{c}")
        })
        .collect::<Vec<_>>();
    let differs = if differs.is_empty() {
        String::new()
    } else {
        format!(" OR NOT ({})", differs.join(" AND "))
    };
    let nulls = s
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if s.is_key(i) {
                format!("t.{}", q(&c.name))
            } else {
                "NULL".to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let nc = listed(s, 0..s.columns.len(), "n");
    let mut out = vec![format!(
        "INSERT INTO {events} ({op}, {seq}, {ts}, {unch}, {c}) \
         SELECT 'V', 0, GREATEST(n.{st}, COALESCE({edge}, n.{st})), NULL, {nc} FROM {new} n \
         LEFT JOIN {target} t ON {nt} AND t.{en} = {open} AND t.{hop} <> 'D' \
         WHERE t.{p0} IS NULL{differs} \
         UNION ALL \
         SELECT 'D', 0, GREATEST({snap}, t.{st}), NULL, {nulls} FROM {target} t \
         WHERE t.{en} = {open} AND t.{hop} <> 'D' AND NOT EXISTS (SELECT 1 FROM {new} n WHERE {nt})",
        c = cols(s),
        nt = join(s, "n", "t"),
        edge = edge_of(s, &target, "n"),
        snap = lit(snap_ts),
    )];
    out.extend(apply_events(s, f, true));
    out
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
