//! Preload and lazy loads agree for every kind of primary key: integers,
//! text (quotes, unicode, NUL) and bytes (16-byte UUIDs). A preload binds
//! all keys as one parameter; a lazy load binds one with `= ?`; both must
//! find the same rows (design points 4 and 8).
//!
//! The same three models are declared once per key type; each database is
//! seeded with plain rusqlite, so the keys go in exactly as bytes, and the
//! statements each way costs are counted with a recorder.

mod common;

/// Parents with children (`HasMany` / `BelongsTo`) and tags (`ManyToMany`),
/// keyed by `$key`, and the tests over them. `$keys` gives four distinct
/// keys: parent 0 has children 1 and 2 and tags 0 and 1, parent 1 has
/// child 3 and tag 1, parent 2 has child 4 and no tag, parent 3 nothing.
macro_rules! agreement_for_keys {
    ($module:ident, $key:ty, $keys:expr) => {
        mod $module {
            use std::collections::BTreeMap;

            use orm::prelude::*;

            use crate::common::Fixture;

            type Key = $key;

            #[derive(Model, Debug)]
            #[orm(table = "parents")]
            pub struct Parent {
                #[orm(primary_key)]
                pub id: $key,
                pub name: String,
                #[orm(back_populates = "parent")]
                pub children: HasMany<Child>,
                #[orm(through = "parent_tags", back_populates = "parents")]
                pub tags: ManyToMany<Tag>,
            }

            #[derive(Model, Debug)]
            #[orm(table = "children")]
            pub struct Child {
                #[orm(primary_key)]
                pub id: i64,
                pub name: String,
                #[orm(back_populates = "children")]
                pub parent: BelongsTo<Parent>,
            }

            #[derive(Model, Debug)]
            #[orm(table = "tags")]
            pub struct Tag {
                #[orm(primary_key)]
                pub id: $key,
                pub label: String,
                #[orm(through = "parent_tags", back_populates = "tags")]
                pub parents: ManyToMany<Parent>,
            }

            fn keys() -> Vec<Key> {
                $keys
            }

            fn seeded() -> Fixture {
                let fx = Fixture::new::<(Parent, Child, Tag)>(stringify!($module));
                let conn = fx.plain();
                let k = keys();
                for (i, key) in k.iter().enumerate() {
                    conn.execute(
                        "INSERT INTO parents (id, name) VALUES (?1, ?2)",
                        rusqlite::params![key, format!("parent {i}")],
                    )
                    .expect("a parent row");
                    conn.execute(
                        "INSERT INTO tags (id, label) VALUES (?1, ?2)",
                        rusqlite::params![key, format!("tag {i}")],
                    )
                    .expect("a tag row");
                }
                for (id, parent) in [(1, 0), (2, 0), (3, 1), (4, 2)] {
                    conn.execute(
                        "INSERT INTO children (id, name, parent_id) VALUES (?1, ?2, ?3)",
                        rusqlite::params![id, format!("child {id}"), k[parent]],
                    )
                    .expect("a child row");
                }
                for (parent, tag) in [(0, 0), (0, 1), (1, 1)] {
                    conn.execute(
                        "INSERT INTO parent_tags (parent_id, tag_id) VALUES (?1, ?2)",
                        rusqlite::params![k[parent], k[tag]],
                    )
                    .expect("a link row");
                }
                fx
            }

            fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
                items.sort();
                items
            }

            /// Each parent's child ids, as the seed wrote them.
            fn children_expected() -> BTreeMap<Key, Vec<i64>> {
                let k = keys();
                BTreeMap::from([
                    (k[0].clone(), vec![1, 2]),
                    (k[1].clone(), vec![3]),
                    (k[2].clone(), vec![4]),
                    (k[3].clone(), vec![]),
                ])
            }

            fn children_of(parents: &[Handle<Parent>]) -> orm::Result<BTreeMap<Key, Vec<i64>>> {
                let mut found = BTreeMap::new();
                for parent in parents {
                    let children = parent.read()?.children.load()?;
                    let ids = children
                        .iter()
                        .map(|c| c.key())
                        .collect::<orm::Result<Vec<i64>>>()?;
                    found.insert(parent.key()?, sorted(ids));
                }
                Ok(found)
            }

            #[test]
            fn preload_of_children_equals_lazy_loads_in_two_statements() -> orm::Result<()> {
                let fx = seeded();
                let recorder = fx.db.recorder();

                let session = fx.db.session();
                let parents = session.query::<Parent>().preload(Parent::CHILDREN).all()?;
                assert_eq!(recorder.count(), 2, "{:?}", recorder.sql());
                assert!(
                    parents
                        .iter()
                        .all(|p| p.read().is_ok_and(|p| p.children.is_loaded()))
                );
                let preloaded = children_of(&parents)?;
                assert_eq!(
                    recorder.count(),
                    2,
                    "reading preloaded children costs nothing"
                );
                drop(session);

                recorder.clear();
                let session = fx.db.session();
                let parents = session.query::<Parent>().all()?;
                let lazy = children_of(&parents)?;
                assert_eq!(recorder.count(), 1 + 4, "one query, one SELECT per parent");

                assert_eq!(lazy, children_expected());
                assert_eq!(preloaded, lazy);
                Ok(())
            }

            #[test]
            fn preload_of_parents_equals_lazy_loads_in_two_statements() -> orm::Result<()> {
                let fx = seeded();
                let k = keys();
                let expected = BTreeMap::from([
                    (1, k[0].clone()),
                    (2, k[0].clone()),
                    (3, k[1].clone()),
                    (4, k[2].clone()),
                ]);
                let parents_of = |children: &[Handle<Child>]| -> orm::Result<BTreeMap<i64, Key>> {
                    let mut found = BTreeMap::new();
                    for child in children {
                        found.insert(child.key()?, child.read()?.parent.load()?.key()?);
                    }
                    Ok(found)
                };
                let recorder = fx.db.recorder();

                let session = fx.db.session();
                let children = session.query::<Child>().preload(Child::PARENT).all()?;
                assert_eq!(recorder.count(), 2, "{:?}", recorder.sql());
                let preloaded = parents_of(&children)?;
                assert_eq!(
                    recorder.count(),
                    2,
                    "reading preloaded parents costs nothing"
                );
                drop(session);

                recorder.clear();
                let session = fx.db.session();
                let children = session.query::<Child>().all()?;
                let lazy = parents_of(&children)?;
                assert_eq!(
                    recorder.count(),
                    1 + 3,
                    "one query, one SELECT per distinct parent: {:?}",
                    recorder.sql()
                );

                assert_eq!(lazy, expected);
                assert_eq!(preloaded, lazy);
                Ok(())
            }

            #[test]
            fn preload_of_many_to_many_equals_lazy_loads_in_two_statements() -> orm::Result<()> {
                let fx = seeded();
                let k = keys();
                let expected = BTreeMap::from([
                    (k[0].clone(), sorted(vec![k[0].clone(), k[1].clone()])),
                    (k[1].clone(), vec![k[1].clone()]),
                    (k[2].clone(), vec![]),
                    (k[3].clone(), vec![]),
                ]);
                let tags_of = |parents: &[Handle<Parent>]| -> orm::Result<BTreeMap<Key, Vec<Key>>> {
                    let mut found = BTreeMap::new();
                    for parent in parents {
                        let tags = parent.read()?.tags.load()?;
                        let keys = tags
                            .iter()
                            .map(|t| t.key())
                            .collect::<orm::Result<Vec<Key>>>()?;
                        found.insert(parent.key()?, sorted(keys));
                    }
                    Ok(found)
                };
                let recorder = fx.db.recorder();

                let session = fx.db.session();
                let parents = session.query::<Parent>().preload(Parent::TAGS).all()?;
                assert_eq!(recorder.count(), 2, "{:?}", recorder.sql());
                let preloaded = tags_of(&parents)?;
                assert_eq!(recorder.count(), 2, "reading preloaded tags costs nothing");
                drop(session);

                recorder.clear();
                let session = fx.db.session();
                let parents = session.query::<Parent>().all()?;
                let lazy = tags_of(&parents)?;
                assert_eq!(recorder.count(), 1 + 4, "one query, one SELECT per parent");

                assert_eq!(lazy, expected);
                assert_eq!(preloaded, lazy);
                Ok(())
            }
        }
    };
}

agreement_for_keys!(
    integer_keys,
    i64,
    vec![1, 2, -9_000_000_000_000_000, i64::MAX]
);

agreement_for_keys!(
    text_keys,
    String,
    vec![
        "it's \"quoted\"; --".to_owned(),
        "日本語 🦀 \\ back\tslash".to_owned(),
        "nul\0inside".to_owned(),
        "42".to_owned(),
    ]
);

agreement_for_keys!(
    blob_keys,
    Vec<u8>,
    vec![
        // 16-byte UUIDs, one with NUL bytes, one of bytes that are not UTF-8,
        // one that reads as text.
        vec![
            0x67, 0xe5, 0x50, 0x44, 0x10, 0xb1, 0x42, 0x6f, 0x92, 0x47, 0xbb, 0x68, 0x0e, 0x5f,
            0xe0, 0xc8
        ],
        vec![0; 16],
        vec![0xff; 16],
        b"sixteen byte key".to_vec(),
    ]
);
