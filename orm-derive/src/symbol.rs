//! The `#[orm(...)]` keywords, one constant each, so that parsing, the
//! rules and the lists in "unknown key" messages cannot drift apart.

/// The attribute itself: `#[orm(...)]`.
pub const ORM: &str = "orm";

// Struct keys.
pub const TABLE: &str = "table";
pub const INDEX: &str = "index";
pub const UNIQUE_INDEX: &str = "unique_index";
pub const SKIP_NEW: &str = "skip_new";

// Field keys (`INDEX` is one too: a one-column index).
pub const PRIMARY_KEY: &str = "primary_key";
pub const COLUMN: &str = "column";
pub const UNIQUE: &str = "unique";
pub const DEFAULT: &str = "default";
pub const SKIP: &str = "skip";
pub const SQL_TYPE: &str = "sql_type";
pub const BACK_POPULATES: &str = "back_populates";
pub const ON_DELETE: &str = "on_delete";
pub const OPTIONAL: &str = "optional";
pub const DELETE_ORPHAN: &str = "delete_orphan";
pub const LAZY: &str = "lazy";
pub const THROUGH: &str = "through";
pub const VERSION: &str = "version";
pub const ORDER_BY: &str = "order_by";

// `#[derive(ColumnType)]` keys: on the enum, and on a variant.
pub const REPR: &str = "repr";
pub const RENAME_ALL: &str = "rename_all";
pub const RENAME: &str = "rename";

/// Every struct key, in the order an "unknown key" message lists them.
pub const STRUCT_KEYS: &[&str] = &[TABLE, INDEX, UNIQUE_INDEX, SKIP_NEW];

/// Every field key, in the order an "unknown key" message lists them.
pub const FIELD_KEYS: &[&str] = &[
    PRIMARY_KEY,
    COLUMN,
    UNIQUE,
    INDEX,
    DEFAULT,
    SKIP,
    SQL_TYPE,
    BACK_POPULATES,
    ON_DELETE,
    OPTIONAL,
    DELETE_ORPHAN,
    LAZY,
    THROUGH,
    VERSION,
    ORDER_BY,
];

/// Every key on an enum deriving `ColumnType`.
pub const ENUM_KEYS: &[&str] = &[REPR, RENAME_ALL];

/// Every key on a variant of an enum deriving `ColumnType`.
pub const VARIANT_KEYS: &[&str] = &[RENAME];
