//! placeholder, replaced below
pub use orm_core::*;
pub use orm_derive::Model;
pub mod prelude {
    //! The names most programs need: `use orm::prelude::*;`.
    pub use orm_core::{BelongsTo, Database, Handle, HasMany, Model, Session};
    pub use orm_derive::Model;
}
