//! How a relationship reaches its target in SQL: the join conditions a
//! query's `join` and `any` / `has` write, one per table on the way (two
//! for a many-to-many: the link table, then the target).

use super::{BelongsToDef, HasManyDef, ManyToManyDef};
use crate::model::Model;

/// One table on a relationship's way: `table.column = from_table.from_column`,
/// `from_table` being the previous table (the owner's, for the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hop {
    pub table: &'static str,
    pub column: &'static str,
    pub from_table: &'static str,
    pub from_column: &'static str,
}

/// A relationship's way from its owner's table to its target's, with the
/// models erased.
pub(crate) trait Path {
    fn hops(&self) -> Vec<Hop>;
}

impl<P: Model, C: Model> Path for HasManyDef<P, C> {
    fn hops(&self) -> Vec<Hop> {
        // The derive checked that `back_field` names the children's
        // `BelongsTo`, whose column this is.
        let column = C::TABLE
            .columns
            .iter()
            .find(|c| c.field == self.back_field)
            .map_or("", |c| c.name);
        vec![Hop {
            table: C::TABLE.name,
            column,
            from_table: P::TABLE.name,
            from_column: P::TABLE.primary_key().name,
        }]
    }
}

impl<C: Model, P: Model> Path for BelongsToDef<C, P> {
    fn hops(&self) -> Vec<Hop> {
        vec![Hop {
            table: P::TABLE.name,
            column: P::TABLE.primary_key().name,
            from_table: C::TABLE.name,
            from_column: C::TABLE.columns.get(self.column).map_or("", |c| c.name),
        }]
    }
}

impl<P: Model, C: Model> Path for ManyToManyDef<P, C> {
    fn hops(&self) -> Vec<Hop> {
        vec![
            Hop {
                table: self.table,
                column: self.this_column,
                from_table: P::TABLE.name,
                from_column: P::TABLE.primary_key().name,
            },
            Hop {
                table: C::TABLE.name,
                column: C::TABLE.primary_key().name,
                from_table: self.table,
                from_column: self.other_column,
            },
        ]
    }
}
