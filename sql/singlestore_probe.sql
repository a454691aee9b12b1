-- The assumptions ingest makes about a SingleStore destination, checked by
-- `ingest check` when `dialect = "singlestore"` (src/dest/probe.rs runs this
-- file section by section, in the configured destination database). A DBA
-- may run it by hand: each section says what ingest expects of its last
-- statement. The scratch table __ingest_probe is dropped at the end.

-- probe: version
-- expects 7.5 or later (multi-column primary keys on columnstore tables)
SELECT @@memsql_version;

-- probe: data_conversion_compatibility_level
-- expects 7.0 or later: a value that does not fit is an error, not a NULL or 0
SELECT @@data_conversion_compatibility_level;

-- probe: time_zone
-- any: TIMESTAMP columns are created as DATETIME holding UTC
SELECT @@time_zone;

-- probe: collation
-- tells whether 'a' = 'a ' and 'a' = 'A' under utf8mb4_bin (text keys are binary: either is fine)
SELECT 'a' = 'a ' COLLATE utf8mb4_bin, 'a' = 'A' COLLATE utf8mb4_bin;

-- probe: scratch_table
-- expects a columnstore table with a primary key to be created
DROP TABLE IF EXISTS __ingest_probe;
CREATE TABLE __ingest_probe (k INT NOT NULL, s INT NOT NULL, v VARCHAR(10) NULL, d DATE NULL, j JSON NULL,
  PRIMARY KEY (k), SHARD KEY (k), SORT KEY (k)) COLLATE utf8mb4_bin;
SELECT 1;

-- probe: load_data_local
-- expects 2 rows, one with SQL NULL and one with the text 'NULL' (the lines: 1,1,"NULL",NULL and 2,1,NULL,NULL)
LOAD DATA LOCAL INFILE 'probe.csv' INTO TABLE __ingest_probe CHARACTER SET utf8mb4
  FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '"' ESCAPED BY '' LINES TERMINATED BY '\n'
  NULL DEFINED BY 'NULL' (k, s, v, d);
SELECT COUNT(*), SUM(v IS NULL), SUM(v = 'NULL') FROM __ingest_probe;

-- probe: upsert
-- expects 2, x: ON DUPLICATE KEY UPDATE of non-key columns on a columnstore table
INSERT INTO __ingest_probe (k, s, v) VALUES (1, 2, 'x') ON DUPLICATE KEY UPDATE s = VALUES(s), v = VALUES(v);
SELECT s, v FROM __ingest_probe WHERE k = 1;

-- probe: last_change
-- expects 2, 3: the last line of each key by ROW_NUMBER(), as the merge takes it
SELECT COUNT(*), SUM(s) FROM (SELECT k, s, ROW_NUMBER() OVER (PARTITION BY k ORDER BY s DESC) AS rn
  FROM (SELECT 1 AS k, 1 AS s UNION ALL SELECT 1, 2 UNION ALL SELECT 2, 1) x) y WHERE rn = 1;

-- probe: history_windows
-- expects 17, 2, 2: a running MAX with a ROWS frame, LEAD and LAG, as the history merge uses them
SELECT SUM(m), SUM(nx IS NULL), SUM(pv IS NULL) FROM (SELECT
  MAX(s) OVER (PARTITION BY k ORDER BY o ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS m,
  LEAD(s) OVER (PARTITION BY k ORDER BY o) AS nx, LAG(s) OVER (PARTITION BY k ORDER BY o) AS pv
  FROM (SELECT 1 AS k, 1 AS o, 5 AS s UNION ALL SELECT 1, 2, 3 UNION ALL SELECT 2, 1, 7) x) y;

-- probe: correlated_max
-- expects 2: a scalar subquery per row, correlated by key (a history merge's edge of each key)
SELECT (SELECT MAX(p.s) FROM (SELECT 1 AS k, 1 AS s UNION ALL SELECT 1, 2 UNION ALL SELECT 2, 5) p
  WHERE p.k = x.k) FROM (SELECT 1 AS k) x;

-- probe: row_hash
-- expects 64, 32: SHA2(..., 256) and UNHEX, as long keys and keyless rows are matched
SELECT LENGTH(SHA2(CONCAT_WS('|', IF(NULL IS NULL, 'n', 'v'), CONCAT('v', LENGTH('ab'), ':', 'ab')), 256)),
  LENGTH(UNHEX(SHA2('a', 256)));

-- probe: insert_select_same_table
-- expects 4: INSERT ... SELECT from the table inserted into (history merges read the target they write)
INSERT INTO __ingest_probe (k, s) SELECT k + 10, s FROM __ingest_probe;
SELECT COUNT(*) FROM __ingest_probe;

-- probe: keyless_table
-- expects 2: a table numbered by an AUTO_INCREMENT key (keyless = true)
DROP TABLE IF EXISTS __ingest_probe_rows;
CREATE TABLE __ingest_probe_rows (a INT NULL, ingest_row BIGINT NOT NULL AUTO_INCREMENT,
  PRIMARY KEY (ingest_row), SHARD KEY (ingest_row), SORT KEY (ingest_row)) COLLATE utf8mb4_bin;
INSERT INTO __ingest_probe_rows (a) VALUES (1), (1);
SELECT COUNT(DISTINCT ingest_row) FROM __ingest_probe_rows;

-- probe: verify_functions
-- expects 57446577476672362, 2020-01-02 03:04:05.500000, -01:02:03.000000, 6755399441055744p-52, 61:
-- the functions `ingest verify` computes canonical values and row hashes with
SELECT CAST(CONV(SUBSTRING(MD5('a'), 1, 15), 16, 10) AS UNSIGNED),
  DATE_FORMAT(CAST('2020-01-02 03:04:05.5' AS DATETIME(6)), '%Y-%m-%d %H:%i:%s.%f'),
  TIME_FORMAT(CAST('-01:02:03' AS TIME), '%H:%i:%s.%f'),
  CONCAT(CAST(CAST(1.5e0 AS DOUBLE) * POW(2, 52 - FLOOR(LOG2(ABS(1.5e0)))) AS UNSIGNED), 'p',
    CAST(FLOOR(LOG2(ABS(1.5e0))) - 52 AS SIGNED)),
  LOWER(HEX('a'));

-- probe: date_before_1000
-- tells whether DATE '0999-01-01' is held (ingest writes dates before 1000 as NULL with a warning on SingleStore anyway)
UPDATE __ingest_probe SET d = '0999-01-01' WHERE k = 2;
SELECT d FROM __ingest_probe WHERE k = 2;

-- probe: json_precision
-- tells whether a JSON number beyond 2^53 keeps its digits
UPDATE __ingest_probe SET j = '{"n": 9007199254740993}' WHERE k = 2;
SELECT j FROM __ingest_probe WHERE k = 2;

-- probe: cleanup
-- expects the scratch tables gone
DROP TABLE IF EXISTS __ingest_probe;
DROP TABLE IF EXISTS __ingest_probe_rows;
SELECT 1;
