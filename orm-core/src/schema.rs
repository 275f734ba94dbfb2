//! Schema: the table metadata that `#[derive(Model)]` generates, the DDL made
//! from it, the dependency order of tables, and the drift report that compares
//! a model with a table that already exists.
//!
//! Does not run statements itself except to read the live schema for the
//! drift report; `Database::create_all` decides what to create.

use std::fmt;

use crate::error::Result;
use crate::sql::quote;

/// One model or a tuple of models, as `create_all::<(User, Order)>()` takes.
pub trait ModelSet {
    /// The tables of the models, in the order given.
    fn tables() -> Vec<&'static TableDef>;
}

/// What a foreign key does when the row it points to is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDelete {
    /// SQLite's default: the delete fails while rows still point at the parent.
    NoAction,
    /// The delete fails while rows still point at the parent, checked at once.
    Restrict,
    /// Deleting the parent deletes the rows that point at it.
    Cascade,
    /// Deleting the parent sets the key of the rows that point at it to NULL.
    SetNull,
}

impl OnDelete {
    /// The clause as SQL, or `None` for SQLite's default.
    pub fn sql(self) -> Option<&'static str> {
        match self {
            OnDelete::NoAction => None,
            OnDelete::Restrict => Some("RESTRICT"),
            OnDelete::Cascade => Some("CASCADE"),
            OnDelete::SetNull => Some("SET NULL"),
        }
    }
}

/// A column's `REFERENCES` clause.
#[derive(Debug, Clone, Copy)]
pub struct ForeignKeyDef {
    /// The referenced table (a function, so that a table may reference itself).
    pub target: fn() -> &'static TableDef,
    /// What happens to this row when the referenced row is deleted.
    pub on_delete: OnDelete,
}

/// One column of a table.
#[derive(Debug, Clone, Copy)]
pub struct ColumnDef {
    /// Column name in the database.
    pub name: &'static str,
    /// The Rust field it maps to (for a `BelongsTo`, the relationship field).
    pub field: &'static str,
    /// SQL type: `INTEGER`, `REAL`, `TEXT`, `BLOB`, or the one the attribute names.
    pub sql_type: &'static str,
    /// Whether the column accepts NULL (the field is an `Option`).
    pub nullable: bool,
    /// Whether this is the primary key.
    pub primary_key: bool,
    /// Whether the column carries a `UNIQUE` constraint.
    pub unique: bool,
    /// SQL text of the column's `DEFAULT`, if any.
    pub default: Option<&'static str>,
    /// The `REFERENCES` clause of a `BelongsTo` column.
    pub references: Option<ForeignKeyDef>,
}

impl ColumnDef {
    /// Whether SQLite assigns this column's value on insert (an `INTEGER
    /// PRIMARY KEY` is an alias of the rowid).
    pub fn is_rowid_alias(&self) -> bool {
        self.primary_key && self.sql_type.eq_ignore_ascii_case("INTEGER")
    }

    pub(crate) fn definition(&self) -> String {
        let mut sql = format!("{} {}", quote(self.name), self.sql_type);
        if self.primary_key {
            // `INTEGER PRIMARY KEY` without NOT NULL: NULL asks SQLite for a new rowid.
            if !self.is_rowid_alias() {
                sql.push_str(" NOT NULL");
            }
            sql.push_str(" PRIMARY KEY");
        } else if !self.nullable {
            sql.push_str(" NOT NULL");
        }
        if self.unique {
            sql.push_str(" UNIQUE");
        }
        if let Some(default) = self.default {
            sql.push_str(" DEFAULT ");
            sql.push_str(default);
        }
        if let Some(fk) = &self.references {
            let target = (fk.target)();
            sql.push_str(&format!(
                " REFERENCES {} ({})",
                quote(target.name),
                quote(target.primary_key().name)
            ));
            if let Some(action) = fk.on_delete.sql() {
                sql.push_str(" ON DELETE ");
                sql.push_str(action);
            }
        }
        sql
    }
}

/// An index over one or more columns.
#[derive(Debug, Clone, Copy)]
pub struct IndexDef {
    /// Index name in the database.
    pub name: &'static str,
    /// Indexed columns, in order.
    pub columns: &'static [&'static str],
    /// Whether the index is `UNIQUE`.
    pub unique: bool,
}

impl IndexDef {
    pub(crate) fn create_sql(&self, table: &str) -> String {
        let columns: Vec<String> = self.columns.iter().map(|c| quote(c)).collect();
        format!(
            "CREATE {}INDEX {} ON {} ({})",
            if self.unique { "UNIQUE " } else { "" },
            quote(self.name),
            quote(table),
            columns.join(", ")
        )
    }
}

/// A link table column and the table whose key it holds (a function, so
/// that tables may refer to each other).
pub type LinkColumn = (&'static str, fn() -> &'static TableDef);

/// A link table of a many-to-many relationship: two foreign keys, which
/// together are the primary key. Not a model; the unit of work writes it.
#[derive(Debug)]
pub struct LinkDef {
    /// The link table's name.
    pub table: &'static str,
    /// Each column with the table it references: this model's first.
    pub columns: [LinkColumn; 2],
}

impl LinkDef {
    /// The `CREATE TABLE` statement: both keys `NOT NULL`, `ON DELETE
    /// CASCADE` (a link dies with either end), together the primary key.
    pub fn create_table_sql(&self) -> String {
        let columns: Vec<String> = self
            .columns
            .iter()
            .map(|(name, target)| {
                let target = target();
                let pk = target.primary_key();
                format!(
                    "    {} {} NOT NULL REFERENCES {} ({}) ON DELETE CASCADE",
                    quote(name),
                    pk.sql_type,
                    quote(target.name),
                    quote(pk.name)
                )
            })
            .collect();
        format!(
            "CREATE TABLE {} (\n{},\n    PRIMARY KEY ({}, {})\n)",
            quote(self.table),
            columns.join(",\n"),
            quote(self.columns[0].0),
            quote(self.columns[1].0)
        )
    }

    /// The index on the second column (the primary key serves the first).
    pub fn create_index_sql(&self) -> String {
        let column = self.columns[1].0;
        format!(
            "CREATE INDEX {} ON {} ({})",
            quote(&format!("ix_{}_{column}", self.table)),
            quote(self.table),
            quote(column)
        )
    }
}

/// Everything the database needs to know about a model's table.
#[derive(Debug)]
pub struct TableDef {
    /// Table name.
    pub name: &'static str,
    /// The Rust struct it maps.
    pub model: &'static str,
    /// Columns, in the order of the struct's persisted fields.
    pub columns: &'static [ColumnDef],
    /// Position of the primary key in `columns`.
    pub primary_key: usize,
    /// Indexes other than the ones `UNIQUE` columns create.
    pub indexes: &'static [IndexDef],
    /// Link tables of its many-to-many relationships.
    pub links: &'static [LinkDef],
    /// Position in `columns` of the version counter (`#[orm(version)]`),
    /// which makes every UPDATE and DELETE check that nobody changed the
    /// row since it was loaded.
    pub version: Option<usize>,
}

impl TableDef {
    /// The primary key column.
    pub fn primary_key(&self) -> &ColumnDef {
        &self.columns[self.primary_key]
    }

    /// The `CREATE TABLE` statement.
    pub fn create_table_sql(&self) -> String {
        let columns: Vec<String> = self
            .columns
            .iter()
            .map(|c| format!("    {}", c.definition()))
            .collect();
        format!(
            "CREATE TABLE {} (\n{}\n)",
            quote(self.name),
            columns.join(",\n")
        )
    }

    /// The `CREATE INDEX` statements, one per index.
    pub fn create_index_sql(&self) -> Vec<String> {
        self.indexes
            .iter()
            .map(|i| i.create_sql(self.name))
            .collect()
    }

    /// The whole DDL: `CREATE TABLE` then each `CREATE INDEX`, each ending in `;`.
    pub fn ddl(&self) -> String {
        let mut ddl = self.create_table_sql();
        ddl.push_str(";\n");
        for index in self.create_index_sql() {
            ddl.push_str(&index);
            ddl.push_str(";\n");
        }
        ddl
    }

    /// The tables this one references through foreign keys (itself excluded).
    pub fn dependencies(&self) -> impl Iterator<Item = &'static TableDef> + '_ {
        self.columns
            .iter()
            .filter_map(|c| c.references.map(|fk| (fk.target)()))
            .filter(move |t| t.name != self.name)
    }
}

/// Orders tables so that every table comes after the tables it references
/// (tables outside the set are ignored). Cycles keep their given order.
pub fn dependency_order(tables: &[&'static TableDef]) -> Vec<&'static TableDef> {
    let mut ordered: Vec<&'static TableDef> = Vec::with_capacity(tables.len());
    let mut visiting: Vec<&str> = Vec::new();
    fn visit(
        table: &'static TableDef,
        set: &[&'static TableDef],
        ordered: &mut Vec<&'static TableDef>,
        visiting: &mut Vec<&'static str>,
    ) {
        if ordered.iter().any(|t| t.name == table.name) || visiting.contains(&table.name) {
            return;
        }
        visiting.push(table.name);
        for dep in table.dependencies() {
            if let Some(dep) = set.iter().find(|t| t.name == dep.name) {
                visit(dep, set, ordered, visiting);
            }
        }
        visiting.pop();
        ordered.push(table);
    }
    for table in tables {
        visit(table, tables, &mut ordered, &mut visiting);
    }
    ordered
}

/// One way an existing table differs from its model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// The model has a column the table lacks.
    MissingColumn {
        /// Column name.
        column: String,
        /// Its SQL definition in the model.
        definition: String,
    },
    /// The table has a column the model does not declare.
    ExtraColumn {
        /// Column name.
        column: String,
    },
    /// The column's SQL type differs.
    TypeDiffers {
        /// Column name.
        column: String,
        /// Type in the model.
        model: String,
        /// Type in the database.
        database: String,
    },
    /// The column is NOT NULL in one and nullable in the other.
    NullabilityDiffers {
        /// Column name.
        column: String,
        /// Whether the model allows NULL.
        model_nullable: bool,
    },
    /// The primary key is on another column.
    PrimaryKeyDiffers {
        /// Primary key in the model.
        model: String,
    },
    /// The model declares a foreign key the table lacks.
    MissingForeignKey {
        /// The referencing column.
        column: String,
        /// The referenced table.
        target: String,
    },
    /// The model declares a `UNIQUE` column the table does not enforce.
    MissingUnique {
        /// Column name.
        column: String,
    },
    /// An index of the model's name exists but covers other columns, or
    /// differs in uniqueness.
    IndexDiffers {
        /// Index name.
        name: String,
        /// The index as the model declares it.
        model: String,
        /// The index as it exists.
        database: String,
    },
    /// The model declares an index the table lacks.
    MissingIndex {
        /// Index name.
        name: String,
        /// Its columns.
        columns: Vec<String>,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::MissingColumn { column, definition } => {
                write!(f, "column `{column}` is missing (model: {definition})")
            }
            Difference::ExtraColumn { column } => {
                write!(f, "column `{column}` exists but no field maps it")
            }
            Difference::TypeDiffers {
                column,
                model,
                database,
            } => write!(
                f,
                "column `{column}` has type {database}, the model says {model}"
            ),
            Difference::NullabilityDiffers {
                column,
                model_nullable,
            } => {
                if *model_nullable {
                    write!(f, "column `{column}` is NOT NULL, the model allows NULL")
                } else {
                    write!(f, "column `{column}` allows NULL, the model says NOT NULL")
                }
            }
            Difference::PrimaryKeyDiffers { model } => {
                write!(f, "the primary key is not `{model}` as the model says")
            }
            Difference::MissingForeignKey { column, target } => write!(
                f,
                "column `{column}` has no foreign key to `{target}` (the model declares one)"
            ),
            Difference::MissingUnique { column } => {
                write!(f, "column `{column}` is not UNIQUE as the model says")
            }
            Difference::IndexDiffers {
                name,
                model,
                database,
            } => write!(f, "index `{name}` is on {database}, the model says {model}"),
            Difference::MissingIndex { name, columns } => {
                write!(f, "index `{name}` on ({}) is missing", columns.join(", "))
            }
        }
    }
}

/// The differences found in one existing table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDrift {
    /// Table name.
    pub table: String,
    /// What differs, in column order.
    pub differences: Vec<Difference>,
}

/// Every existing table that differs from its model. Empty when the
/// database matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriftReport {
    /// One entry per table that differs.
    pub tables: Vec<TableDrift>,
}

impl DriftReport {
    /// Whether nothing differs.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }
}

impl fmt::Display for DriftReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for table in &self.tables {
            writeln!(f, "table `{}`:", table.table)?;
            for difference in &table.differences {
                writeln!(f, "  - {difference}")?;
            }
        }
        Ok(())
    }
}

/// A column as `PRAGMA table_info` describes it.
struct LiveColumn {
    name: String,
    sql_type: String,
    not_null: bool,
    primary_key: bool,
}

/// Compares `table` with the existing table of the same name.
pub(crate) fn drift(conn: &rusqlite::Connection, table: &TableDef) -> Result<Vec<Difference>> {
    let live = live_columns(conn, table.name)?;
    let mut differences = Vec::new();
    for column in table.columns {
        let Some(found) = live
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case(column.name))
        else {
            differences.push(Difference::MissingColumn {
                column: column.name.to_owned(),
                definition: column.definition(),
            });
            continue;
        };
        if !found.sql_type.eq_ignore_ascii_case(column.sql_type) {
            differences.push(Difference::TypeDiffers {
                column: column.name.to_owned(),
                model: column.sql_type.to_owned(),
                database: found.sql_type.clone(),
            });
        }
        // A rowid alias reports NOT NULL as 0 even though it never holds NULL.
        if !column.primary_key && found.not_null == column.nullable {
            differences.push(Difference::NullabilityDiffers {
                column: column.name.to_owned(),
                model_nullable: column.nullable,
            });
        }
        if column.primary_key && !found.primary_key {
            differences.push(Difference::PrimaryKeyDiffers {
                model: column.name.to_owned(),
            });
        }
    }
    for found in &live {
        if !table
            .columns
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(&found.name))
        {
            differences.push(Difference::ExtraColumn {
                column: found.name.clone(),
            });
        }
    }
    differences.extend(foreign_key_drift(conn, table)?);
    differences.extend(index_drift(conn, table)?);
    Ok(differences)
}

fn live_columns(conn: &rusqlite::Connection, table: &str) -> Result<Vec<LiveColumn>> {
    let mut stmt = conn.prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1)")?;
    let rows = stmt.query_map([table], |row| {
        Ok(LiveColumn {
            name: row.get(0)?,
            sql_type: row.get(1)?,
            not_null: row.get(2)?,
            primary_key: row.get::<_, i64>(3)? > 0,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn foreign_key_drift(conn: &rusqlite::Connection, table: &TableDef) -> Result<Vec<Difference>> {
    let mut stmt = conn.prepare("SELECT \"table\", \"from\" FROM pragma_foreign_key_list(?1)")?;
    let live: Vec<(String, String)> = stmt
        .query_map([table.name], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut differences = Vec::new();
    for column in table.columns {
        if let Some(fk) = column.references {
            let target = (fk.target)().name;
            let present = live.iter().any(|(t, from)| {
                t.eq_ignore_ascii_case(target) && from.eq_ignore_ascii_case(column.name)
            });
            if !present {
                differences.push(Difference::MissingForeignKey {
                    column: column.name.to_owned(),
                    target: target.to_owned(),
                });
            }
        }
    }
    Ok(differences)
}

fn describe_index(columns: &[String], unique: bool) -> String {
    format!(
        "{}({})",
        if unique { "UNIQUE " } else { "" },
        columns.join(", ")
    )
}

fn index_drift(conn: &rusqlite::Connection, table: &TableDef) -> Result<Vec<Difference>> {
    let mut stmt = conn.prepare(
        "SELECT il.name, il.\"unique\", group_concat(ii.name, ',') \
         FROM pragma_index_list(?1) AS il, pragma_index_info(il.name) AS ii \
         GROUP BY il.name",
    )?;
    let live: Vec<(String, bool, String)> = stmt
        .query_map([table.name], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut differences = Vec::new();
    for column in table.columns.iter().filter(|c| c.unique) {
        let enforced = live
            .iter()
            .any(|(_, unique, cols)| *unique && cols.eq_ignore_ascii_case(column.name));
        if !enforced {
            differences.push(Difference::MissingUnique {
                column: column.name.to_owned(),
            });
        }
    }
    for index in table.indexes {
        let columns: Vec<String> = index.columns.iter().map(|c| (*c).to_owned()).collect();
        match live.iter().find(|(name, _, _)| name == index.name) {
            None => differences.push(Difference::MissingIndex {
                name: index.name.to_owned(),
                columns,
            }),
            Some((_, unique, cols)) => {
                let found: Vec<String> = cols.split(',').map(str::to_owned).collect();
                let same_columns = found.len() == columns.len()
                    && found
                        .iter()
                        .zip(&columns)
                        .all(|(a, b)| a.eq_ignore_ascii_case(b));
                if !same_columns || *unique != index.unique {
                    differences.push(Difference::IndexDiffers {
                        name: index.name.to_owned(),
                        model: describe_index(&columns, index.unique),
                        database: describe_index(&found, *unique),
                    });
                }
            }
        }
    }
    Ok(differences)
}

#[cfg(test)]
mod tests {
    use super::*;

    static USERS: TableDef = TableDef {
        name: "users",
        model: "User",
        columns: &[
            ColumnDef {
                name: "id",
                field: "id",
                sql_type: "INTEGER",
                nullable: false,
                primary_key: true,
                unique: false,
                default: None,
                references: None,
            },
            ColumnDef {
                name: "email",
                field: "email",
                sql_type: "TEXT",
                nullable: false,
                primary_key: false,
                unique: true,
                default: None,
                references: None,
            },
        ],
        primary_key: 0,
        indexes: &[],
        links: &[],
        version: None,
    };

    static ORDERS: TableDef = TableDef {
        name: "orders",
        model: "Order",
        columns: &[
            ColumnDef {
                name: "id",
                field: "id",
                sql_type: "INTEGER",
                nullable: false,
                primary_key: true,
                unique: false,
                default: None,
                references: None,
            },
            ColumnDef {
                name: "user_id",
                field: "user",
                sql_type: "INTEGER",
                nullable: true,
                primary_key: false,
                unique: false,
                default: None,
                references: Some(ForeignKeyDef {
                    target: || &USERS,
                    on_delete: OnDelete::SetNull,
                }),
            },
        ],
        primary_key: 0,
        indexes: &[IndexDef {
            name: "ix_orders_user_id",
            columns: &["user_id"],
            unique: false,
        }],
        links: &[],
        version: None,
    };

    #[test]
    fn ddl_spells_out_keys_nullability_and_references() {
        assert_eq!(
            ORDERS.ddl(),
            "CREATE TABLE \"orders\" (\n    \"id\" INTEGER PRIMARY KEY,\n    \"user_id\" INTEGER REFERENCES \"users\" (\"id\") ON DELETE SET NULL\n);\nCREATE INDEX \"ix_orders_user_id\" ON \"orders\" (\"user_id\");\n"
        );
        assert_eq!(
            USERS.create_table_sql(),
            "CREATE TABLE \"users\" (\n    \"id\" INTEGER PRIMARY KEY,\n    \"email\" TEXT NOT NULL UNIQUE\n)"
        );
    }

    #[test]
    fn dependency_order_puts_parents_first() {
        let ordered = dependency_order(&[&ORDERS, &USERS]);
        let names: Vec<&str> = ordered.iter().map(|t| t.name).collect();
        assert_eq!(names, ["users", "orders"]);
    }
}
