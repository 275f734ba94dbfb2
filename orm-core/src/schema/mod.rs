//! Schema: the table metadata that `#[derive(Model)]` generates, the DDL made
//! from it, and the dependency order of tables.
//!
//! Runs no statement. The live schema's values are in `live`; the backend
//! reads them, `migrate` compares them with the models (the drift report of
//! `create_all` included); `Database::create_all` decides what to create.

mod live;

pub(crate) use live::{
    LiveColumn, LiveForeignKey, LiveIndex, LiveObject, LiveTable, ObjectKind, RowKey, TableExtras,
};

use crate::backend::Backend;
use crate::sql::quote;

/// One model or a tuple of models, as `create_all::<(User, Order)>()` takes.
///
/// Tuples hold up to twelve members, and each member may itself be a
/// set, so sets nest to any size: `((A, B, C), (D, E))` is the five
/// models. A model named twice counts once.
///
/// ```
/// use orm::ModelSet;
/// use orm::prelude::*;
/// # #[derive(Model)] #[orm(table = "a")] struct A { #[orm(primary_key)] id: i64 }
/// # #[derive(Model)] #[orm(table = "b")] struct B { #[orm(primary_key)] id: i64 }
/// # #[derive(Model)] #[orm(table = "c")] struct C { #[orm(primary_key)] id: i64 }
/// let tables = <((A, B), (B, C))>::tables();
/// let names: Vec<&str> = tables.iter().map(|t| t.name).collect();
/// assert_eq!(names, ["a", "b", "c"]);
/// ```
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

/// A plain integer column of this name, for tests of what reads column
/// lists.
#[cfg(test)]
pub(crate) const fn named(name: &'static str) -> ColumnDef {
    ColumnDef {
        name,
        field: name,
        sql_type: "INTEGER",
        postgres_type: None,
        nullable: false,
        primary_key: false,
        unique: false,
        default: None,
        references: None,
    }
}

/// One column of a table.
#[derive(Debug, Clone, Copy)]
pub struct ColumnDef {
    /// Column name in the database.
    pub name: &'static str,
    /// The Rust field it maps to (for a `BelongsTo`, the relationship field).
    pub field: &'static str,
    /// SQL type on SQLite: `INTEGER`, `REAL`, `TEXT`, `BLOB`, or the one the attribute names.
    pub sql_type: &'static str,
    /// SQL type on PostgreSQL (the field type's
    /// [`ColumnType::POSTGRES_TYPE`](crate::ColumnType::POSTGRES_TYPE));
    /// `None` where the attribute names one type for both (`sql_type`),
    /// read the PostgreSQL way.
    pub postgres_type: Option<&'static str>,
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
        self.definition_in(Backend::Sqlite)
    }

    /// The column's SQL type in `dialect`.
    pub(crate) fn type_in(&self, dialect: Backend) -> &'static str {
        match (dialect, self.postgres_type) {
            (Backend::Postgres, Some(postgres)) => postgres,
            _ => dialect.column_type(self.sql_type),
        }
    }

    /// The column's definition in `CREATE TABLE`, in `dialect`.
    pub(crate) fn definition_in(&self, dialect: Backend) -> String {
        let sql_type = self.type_in(dialect);
        let mut sql = format!("{} {sql_type}", quote(self.name));
        if self.primary_key && self.is_rowid_alias() && dialect == Backend::Postgres {
            // PostgreSQL's counterpart of SQLite's rowid: a key the
            // database assigns when the insert leaves it out.
            sql.push_str(" GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY");
        } else if self.primary_key {
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

/// One term of the order a collection loads in (`#[orm(order_by = "...")]`
/// on a `HasMany` or `ManyToMany`): a column of the collected model, by
/// field or column name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SortKey {
    /// The field or column name.
    pub column: &'static str,
    /// `DESC` rather than `ASC`.
    pub descending: bool,
}

impl TableDef {
    /// The column a field or column name stands for.
    pub fn column_named(&self, name: &str) -> Option<&ColumnDef> {
        self.columns
            .iter()
            .find(|c| c.field == name)
            .or_else(|| self.columns.iter().find(|c| c.name == name))
    }
}

/// Whether `table` has a column of that field or column name: the
/// compile-time check of `order_by` (generated as a constant assertion).
pub const fn has_column(table: &TableDef, name: &str) -> bool {
    let mut i = 0;
    while i < table.columns.len() {
        let column = &table.columns[i];
        if const_str_eq(column.field, name) || const_str_eq(column.name, name) {
            return true;
        }
        i += 1;
    }
    false
}

/// String equality usable in constants.
pub const fn const_str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
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
        self.create_table_sql_in(Backend::Sqlite)
    }

    /// [`LinkDef::create_table_sql`] in `dialect`.
    pub(crate) fn create_table_sql_in(&self, dialect: Backend) -> String {
        let columns: Vec<String> = self
            .columns
            .iter()
            .map(|(name, target)| {
                let target = target();
                let pk = target.primary_key();
                format!(
                    "    {} {} NOT NULL REFERENCES {} ({}) ON DELETE CASCADE",
                    quote(name),
                    pk.type_in(dialect),
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
        format!(
            "CREATE INDEX {} ON {} ({})",
            quote(&self.index_name()),
            quote(self.table),
            quote(self.columns[1].0)
        )
    }

    /// The name of the index on the second column: `ix_order_tags_tag_id`.
    pub(crate) fn index_name(&self) -> String {
        format!("ix_{}_{}", self.table, self.columns[1].0)
    }
}

/// Everything the database needs to know about a model's table.
#[derive(Debug)]
pub struct TableDef {
    /// Table name.
    pub name: &'static str,
    /// The Rust struct it maps.
    pub model: &'static str,
    /// The module the struct is declared in (`module_path!()`): with
    /// `model`, names the struct uniquely, so that two structs of one name
    /// in different modules never share cached statement texts.
    pub module: &'static str,
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

    /// Whether a column is a foreign key.
    pub(crate) fn has_foreign_keys(&self) -> bool {
        self.columns.iter().any(|c| c.references.is_some())
    }

    /// The `CREATE TABLE` statement.
    pub fn create_table_sql(&self) -> String {
        self.create_table_sql_in(Backend::Sqlite)
    }

    /// [`TableDef::create_table_sql`] in `dialect`.
    pub(crate) fn create_table_sql_in(&self, dialect: Backend) -> String {
        let columns: Vec<String> = self
            .columns
            .iter()
            .map(|c| format!("    {}", c.definition_in(dialect)))
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
        self.ddl_for(Backend::Sqlite)
    }

    /// [`TableDef::ddl`] as `backend` takes it.
    ///
    /// ```
    /// use orm::prelude::*;
    /// # #[derive(Model)] #[orm(table = "users")] struct User { #[orm(primary_key)] id: i64, active: bool }
    /// let ddl = User::TABLE.ddl_for(orm::Backend::Postgres);
    /// assert!(ddl.contains(r#""id" BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"#));
    /// assert!(ddl.contains(r#""active" BOOLEAN NOT NULL"#));
    /// ```
    pub fn ddl_for(&self, backend: Backend) -> String {
        let mut ddl = self.create_table_sql_in(backend);
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

/// The link tables of `tables`, each once.
pub(crate) fn links_of(tables: &[&'static TableDef]) -> Vec<&'static LinkDef> {
    let mut links: Vec<&'static LinkDef> = Vec::new();
    for link in tables.iter().flat_map(|t| t.links.iter()) {
        if !links.iter().any(|l| l.table == link.table) {
            links.push(link);
        }
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    static USERS: TableDef = TableDef {
        name: "users",
        model: "User",
        module: "tests",
        columns: &[
            ColumnDef {
                name: "id",
                field: "id",
                sql_type: "INTEGER",
                postgres_type: None,
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
                postgres_type: None,
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
        module: "tests",
        columns: &[
            ColumnDef {
                name: "id",
                field: "id",
                sql_type: "INTEGER",
                postgres_type: None,
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
                postgres_type: None,
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
