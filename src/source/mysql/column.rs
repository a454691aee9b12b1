//! A MySQL/MariaDB column as the catalog describes it: its destination
//! type, its text encoding, and what a binlog table map says of it.

/// A column as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MyCol {
    pub name: String,
    /// `DATA_TYPE`, lower case: `int`, `varchar`, `enum`, ...
    pub data_type: String,
    /// `COLUMN_TYPE`: `int(10) unsigned`, `enum('a','b')`, `decimal(65,30)`.
    pub column_type: String,
    pub unsigned: bool,
    /// ENUM or SET labels, in order.
    pub labels: Vec<String>,
    /// CHARACTER_SET_NAME, for text columns.
    pub charset: Option<String>,
    /// Declared length of BINARY(n)/CHAR(n).
    pub length: Option<usize>,
    /// How its row-event bytes become UTF-8 (UTF-8 when the character set
    /// is unsupported: the catalog refuses such a table first).
    pub encoding: TextEncoding,
    /// Dates before this year cannot be held by the destination (0: no
    /// limit): written as NULL with a warning.
    pub min_year: u16,
}

impl MyCol {
    pub fn new(name: &str, data_type: &str, column_type: &str, charset: Option<&str>) -> MyCol {
        let data_type = data_type.to_ascii_lowercase();
        let labels = if data_type == "enum" || data_type == "set" {
            crate::schema::enum_labels(column_type)
        } else {
            vec![]
        };
        let length = column_type
            .split_once('(')
            .and_then(|(_, r)| r.split(')').next())
            .and_then(|n| n.trim().parse().ok());
        MyCol {
            name: name.to_string(),
            unsigned: column_type.to_ascii_lowercase().contains("unsigned"),
            column_type: column_type.to_string(),
            data_type,
            labels,
            encoding: charset
                .map(str::to_ascii_lowercase)
                .as_deref()
                .and_then(encoding_of)
                .unwrap_or(TextEncoding::Utf8),
            charset: charset.map(str::to_ascii_lowercase),
            length,
            min_year: 0,
        }
    }
    /// The table column it becomes.
    pub fn column(&self, nullable: bool) -> crate::schema::Column {
        crate::schema::Column {
            name: self.name.clone(),
            source_type: self.column_type.clone(),
            dest_type: self.dest_type(),
            conv: crate::schema::Conv::Verbatim,
            binary: self.binary(),
            // MINIMAL and NOBLOB images leave unchanged values out.
            toastable: true,
            nullable,
            masked: false,
            generated: false,
            type_change: None,
        }
    }
    /// Spool holds hex for these; the load applies UNHEX().
    pub fn binary(&self) -> bool {
        matches!(
            self.data_type.as_str(),
            "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" | "bit"
        ) || self.is_geometry()
    }
    fn is_geometry(&self) -> bool {
        matches!(
            self.data_type.as_str(),
            "geometry"
                | "point"
                | "linestring"
                | "polygon"
                | "multipoint"
                | "multilinestring"
                | "multipolygon"
                | "geometrycollection"
                | "geomcollection"
        )
    }
    /// The destination column type: the source's own, but for geometry
    /// (kept as its internal bytes) and what SingleStore lacks.
    pub fn dest_type(&self) -> String {
        if self.is_geometry() {
            return "LONGBLOB".into();
        }
        match self.data_type.as_str() {
            "json" => "JSON".into(),
            // MariaDB's own types, as their text (SingleStore and MySQL
            // have no such types).
            "uuid" => "CHAR(36)".into(),
            "inet4" => "VARCHAR(15)".into(),
            "inet6" => "VARCHAR(45)".into(),
            // `year(4)`: the display width is deprecated in MySQL 8 and
            // not documented by SingleStore.
            "year" => "YEAR".into(),
            // MariaDB reports its JSON columns as longtext with a check.
            _ => self.column_type.replace(" zerofill", ""),
        }
    }
    /// Whether text of this column needs converting to UTF-8 (binlog bytes
    /// are in the column's character set); `Err` names unsupported ones.
    pub fn text_encoding(&self) -> Result<TextEncoding, String> {
        let cs = self.charset.as_deref().unwrap_or("utf8mb4");
        encoding_of(cs).ok_or_else(|| {
            format!(
                "column {} uses character set {cs}, which ingest cannot convert (supported: {})",
                self.name,
                SUPPORTED_CHARSETS.join(", ")
            )
        })
    }
}

/// What a table map may say of a column: the binlog type codes it may have
/// and, where the catalog fixes them, its metadata bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapExpect {
    pub types: &'static [u8],
    pub meta: Option<Vec<u8>>,
}

// Binlog column type codes (MySQL's enum_field_types).
const T_TINY: u8 = 1;
const T_SHORT: u8 = 2;
const T_LONG: u8 = 3;
const T_FLOAT: u8 = 4;
const T_DOUBLE: u8 = 5;
const T_TIMESTAMP: u8 = 7;
const T_LONGLONG: u8 = 8;
const T_INT24: u8 = 9;
const T_DATE: u8 = 10;
const T_TIME: u8 = 11;
const T_DATETIME: u8 = 12;
const T_YEAR: u8 = 13;
const T_NEWDATE: u8 = 14;
const T_VARCHAR: u8 = 15;
const T_BIT: u8 = 16;
const T_TIMESTAMP2: u8 = 17;
const T_DATETIME2: u8 = 18;
const T_TIME2: u8 = 19;
const T_JSON: u8 = 245;
const T_NEWDECIMAL: u8 = 246;
const T_ENUM: u8 = 247;
const T_SET: u8 = 248;
const T_BLOB: u8 = 252;
const T_VAR_STRING: u8 = 253;
const T_STRING: u8 = 254;
const T_GEOMETRY: u8 = 255;

impl MyCol {
    /// Bytes a character may take in the column's character set.
    fn max_char_bytes(&self) -> Option<usize> {
        match self.charset.as_deref() {
            None | Some("binary") | Some("latin1") | Some("ascii") => Some(1),
            Some("utf8mb4") | Some("utf16") | Some("utf32") => Some(4),
            Some("utf8mb3") | Some("utf8") => Some(3),
            Some("ucs2") => Some(2),
            _ => None,
        }
    }
    /// `(p, s)` of `decimal(p,s)`.
    fn precision_scale(&self) -> Option<(u8, u8)> {
        let args = self.column_type.split_once('(')?.1.split(')').next()?;
        let mut it = args.split(',').map(|a| a.trim().parse::<u8>().ok());
        Some((it.next()??, it.next().flatten().unwrap_or(0)))
    }
    /// Fractional-second digits of `time(n)`, `datetime(n)`, `timestamp(n)`.
    fn fsp(&self) -> u8 {
        self.length.unwrap_or(0) as u8
    }
    /// What the binlog's table map says of this column when the table has
    /// the shape the catalog describes (MySQL's `save_field_metadata`);
    /// `None` for types whose map entry is not derived here (those are not
    /// compared).
    pub fn map_expect(&self) -> Option<MapExpect> {
        let fixed = |types: &'static [u8]| Some(MapExpect { types, meta: None });
        let with = |types: &'static [u8], meta: Vec<u8>| {
            Some(MapExpect {
                types,
                meta: Some(meta),
            })
        };
        let chars = |n: usize| self.max_char_bytes().map(|b| n * b);
        match self.data_type.as_str() {
            "tinyint" => fixed(&[T_TINY]),
            "smallint" => fixed(&[T_SHORT]),
            "mediumint" => fixed(&[T_INT24]),
            "int" | "integer" => fixed(&[T_LONG]),
            "bigint" => fixed(&[T_LONGLONG]),
            "float" => with(&[T_FLOAT], vec![4]),
            "double" | "real" => with(&[T_DOUBLE], vec![8]),
            "decimal" | "numeric" => {
                let (p, s) = self.precision_scale()?;
                with(&[T_NEWDECIMAL], vec![p, s])
            }
            "year" => fixed(&[T_YEAR]),
            "date" => fixed(&[T_DATE, T_NEWDATE]),
            // The old temporal formats carry no metadata; the current ones
            // their fractional digits (compared below only for those).
            "time" => fixed(&[T_TIME2, T_TIME]),
            "datetime" => fixed(&[T_DATETIME2, T_DATETIME]),
            "timestamp" => fixed(&[T_TIMESTAMP2, T_TIMESTAMP]),
            "varchar" | "varbinary" => {
                let n = chars(self.length?)?;
                with(
                    &[T_VARCHAR, T_VAR_STRING],
                    (n as u16).to_le_bytes().to_vec(),
                )
            }
            "char" | "binary" => {
                let n = chars(self.length?)?;
                let b0 = T_STRING ^ (((n & 0x300) >> 4) as u8);
                with(&[T_STRING], vec![b0, (n & 0xff) as u8])
            }
            // mysql_common reports the real type kept in the metadata.
            "enum" => with(
                &[T_ENUM, T_STRING],
                vec![T_ENUM, if self.labels.len() < 256 { 1 } else { 2 }],
            ),
            "set" => {
                let bytes = match self.labels.len().div_ceil(8) {
                    n @ 0..=4 => n.max(1),
                    _ => 8,
                };
                with(&[T_SET, T_STRING], vec![T_SET, bytes as u8])
            }
            "bit" => {
                let n = self.length.unwrap_or(1);
                with(&[T_BIT], vec![(n % 8) as u8, (n / 8) as u8])
            }
            "tinyblob" | "tinytext" => with(&[T_BLOB], vec![1]),
            "blob" | "text" => with(&[T_BLOB], vec![2]),
            "mediumblob" | "mediumtext" => with(&[T_BLOB], vec![3]),
            "longblob" | "longtext" => with(&[T_BLOB], vec![4]),
            "json" => with(&[T_JSON, T_BLOB], vec![4]),
            // MariaDB's fixed-size binary types.
            "uuid" | "inet6" => with(&[T_STRING], vec![T_STRING, 16]),
            "inet4" => with(&[T_STRING], vec![T_STRING, 4]),
            _ if self.is_geometry() => with(&[T_GEOMETRY], vec![4]),
            _ => None,
        }
    }
    /// Why a table map's entry for this column is not this column, if so.
    pub fn map_differs(&self, ty: u8, meta: &[u8]) -> Option<String> {
        let e = self.map_expect()?;
        let fsp_typed = matches!(ty, T_TIME2 | T_DATETIME2 | T_TIMESTAMP2);
        let meta_ok = match &e.meta {
            Some(m) => m.as_slice() == meta,
            None if fsp_typed => meta == [self.fsp()],
            None => true,
        };
        if e.types.contains(&ty) && meta_ok {
            return None;
        }
        Some(format!(
            "the binlog has column {} as type {ty} with metadata {meta:?}, the table has {}",
            self.name, self.column_type
        ))
    }
}

/// How a text column's bytes in row events become UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    /// Already UTF-8 (or ASCII).
    Utf8,
    /// Decoded by encoding_rs (the WHATWG encodings: the legacy single-
    /// and multi-byte sets, UTF-16).
    Whatwg(&'static encoding_rs::Encoding),
    /// UTF-32, big-endian (MySQL's `utf32`).
    Utf32,
}

/// The character sets whose bytes ingest converts, as MySQL/MariaDB name
/// them.
pub const SUPPORTED_CHARSETS: &[&str] = &[
    "utf8mb4", "utf8mb3", "utf8", "ascii", "binary", "latin1", "latin2", "latin5", "latin7",
    "cp1250", "cp1251", "cp1256", "cp1257", "cp866", "koi8r", "koi8u", "greek", "hebrew",
    "macroman", "gbk", "gb2312", "gb18030", "big5", "sjis", "cp932", "ujis", "eucjpms", "euckr",
    "tis620", "utf16", "utf16le", "ucs2", "utf32",
];

/// MySQL's name of a character set → how its bytes decode. MySQL's
/// `latin1` is Windows-1252 (with 0x81, 0x8D, 0x8F, 0x90, 0x9D as C1
/// controls, as WHATWG's windows-1252 decodes them); `gb2312` is a subset
/// of GBK, `tis620` of windows-874, `sjis`/`cp932` are decoded as WHATWG's
/// Shift_JIS (Windows-31J), `ujis`/`eucjpms` as EUC-JP, `euckr` as
/// windows-949; `ucs2` and `utf16` are big-endian UTF-16.
pub fn encoding_of(charset: &str) -> Option<TextEncoding> {
    use encoding_rs::*;
    use TextEncoding::{Utf32, Utf8, Whatwg};
    Some(match charset {
        "utf8mb4" | "utf8mb3" | "utf8" | "ascii" | "binary" => Utf8,
        "latin1" => Whatwg(WINDOWS_1252),
        "latin2" => Whatwg(ISO_8859_2),
        "latin5" => Whatwg(WINDOWS_1254),
        "latin7" => Whatwg(ISO_8859_13),
        "cp1250" => Whatwg(WINDOWS_1250),
        "cp1251" => Whatwg(WINDOWS_1251),
        "cp1256" => Whatwg(WINDOWS_1256),
        "cp1257" => Whatwg(WINDOWS_1257),
        "cp866" => Whatwg(IBM866),
        "koi8r" => Whatwg(KOI8_R),
        "koi8u" => Whatwg(KOI8_U),
        "greek" => Whatwg(ISO_8859_7),
        "hebrew" => Whatwg(ISO_8859_8),
        "macroman" => Whatwg(MACINTOSH),
        "gbk" | "gb2312" => Whatwg(GBK),
        "gb18030" => Whatwg(GB18030),
        "big5" => Whatwg(BIG5),
        "sjis" | "cp932" => Whatwg(SHIFT_JIS),
        "ujis" | "eucjpms" => Whatwg(EUC_JP),
        "euckr" => Whatwg(EUC_KR),
        "tis620" => Whatwg(WINDOWS_874),
        "utf16" | "ucs2" => Whatwg(UTF_16BE),
        "utf16le" => Whatwg(UTF_16LE),
        "utf32" => Utf32,
        _ => return None,
    })
}
