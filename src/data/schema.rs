//! Column types and the schema of a stream. Timestamps are epoch milliseconds (UTC) stored as
//! `i64`; an input column may declare its epoch numbers in another unit (`Field::unit`).

use super::time::EpochUnit;
use std::fmt;

/// The type of a column or an expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    Int,
    Float,
    /// Interned string: the column holds dictionary ids.
    Str,
    /// Epoch milliseconds.
    Timestamp,
    Bool,
}

impl DataType {
    /// Integer-like types share the `i64` column representation.
    pub fn is_integer(self) -> bool {
        matches!(self, DataType::Int | DataType::Timestamp)
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, DataType::Int | DataType::Timestamp | DataType::Float)
    }

    /// Parses a type name as written in SQL or in `--schema`.
    pub fn parse(name: &str) -> Option<DataType> {
        Some(match name.to_ascii_uppercase().as_str() {
            "BIGINT" | "INT" | "INTEGER" | "INT8" | "INT64" | "LONG" | "SMALLINT" => DataType::Int,
            "DOUBLE" | "FLOAT" | "REAL" | "FLOAT8" | "FLOAT64" | "DECIMAL" | "NUMERIC" => {
                DataType::Float
            }
            "VARCHAR" | "STRING" | "TEXT" | "CHAR" => DataType::Str,
            "TIMESTAMP" => DataType::Timestamp,
            "BOOLEAN" | "BOOL" => DataType::Bool,
            _ => return None,
        })
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DataType::Int => "BIGINT",
            DataType::Float => "DOUBLE",
            DataType::Str => "VARCHAR",
            DataType::Timestamp => "TIMESTAMP",
            DataType::Bool => "BOOLEAN",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub ty: DataType,
    /// For a TIMESTAMP input column: the unit of its epoch numbers (`--schema
    /// col:timestamp_s`); milliseconds everywhere else.
    pub unit: EpochUnit,
}

impl Field {
    pub fn new(name: impl Into<String>, ty: DataType) -> Field {
        Field {
            name: name.into(),
            ty,
            unit: EpochUnit::Millis,
        }
    }

    /// A TIMESTAMP field whose epoch numbers are in `unit`.
    pub fn timestamp(name: impl Into<String>, unit: EpochUnit) -> Field {
        Field {
            unit,
            ..Field::new(name, DataType::Timestamp)
        }
    }
}

/// An ordered list of named, typed columns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schema {
    pub fields: Vec<Field>,
}

impl Schema {
    pub fn new(fields: Vec<Field>) -> Schema {
        Schema { fields }
    }

    /// Case-insensitive lookup, as SQL identifiers are.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields
            .iter()
            .position(|f| f.name.eq_ignore_ascii_case(name))
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| f.name.as_str())
    }

    /// The built-in `market_data` stream (SPEC.md §2).
    pub fn market_data() -> Schema {
        Schema::new(vec![
            Field::new("trade_id", DataType::Int),
            Field::new("trader_id", DataType::Str),
            Field::new("symbol", DataType::Str),
            Field::new("price", DataType::Float),
            Field::new("quantity", DataType::Int),
            Field::new("value", DataType::Float),
            Field::new("trade_time", DataType::Timestamp),
            Field::new("event_time", DataType::Timestamp),
        ])
    }
}
