//! Multi-row INSERTs: a flush puts a run of new rows of one table into
//! INSERTs of up to 32 rows where that costs less (SQLite: runs of 128 rows
//! or more, full statements, the rest one per INSERT; PostgreSQL: wherever
//! it takes fewer round trips), and every object still learns the key its
//! row got; where SQLite's numbering cannot be trusted, the flush runs
//! again one row per INSERT.

use crate::common;

use common::backend::is_postgres;
use common::statements;
use orm::prelude::*;

#[derive(Model, Debug)]
#[orm(table = "members")]
pub struct Member {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
}

/// Members as (key, name).
type Pairs = Vec<(i64, String)>;

/// The rows of `members` as a new session reads them, by key.
fn rows(db: &Database) -> orm::Result<Pairs> {
    let session = db.session();
    session
        .query::<Member>()
        .order_by(Member::ID.asc())
        .all()?
        .iter()
        .map(|m| {
            let m = m.read()?;
            Ok((m.id, m.name.clone()))
        })
        .collect()
}

/// Adds members `m0`, `m1`, ... (`count` of them) and commits; returns the
/// statements of the commit and each object's key and name.
fn commit_new_members(db: &Database, count: usize) -> orm::Result<(Vec<String>, Pairs)> {
    let session = db.session();
    let members: Vec<Handle<Member>> = (0..count)
        .map(|i| session.add(Member::new(format!("m{i}"))))
        .collect();
    let recorder = db.recorder();
    session.commit()?;
    let objects = members
        .iter()
        .map(|m| {
            let m = m.read()?;
            Ok((m.id, m.name.clone()))
        })
        .collect::<orm::Result<_>>()?;
    Ok((statements(&recorder), objects))
}

/// Each object's key is its row's: the rows hold exactly the objects.
fn assert_objects_match_rows(db: &Database, objects: &[(i64, String)]) -> orm::Result<()> {
    let mut objects = objects.to_vec();
    objects.sort();
    assert_eq!(rows(db)?, objects, "every object has its own row's key");
    Ok(())
}

/// The statements a flush of `count` new members sends: the read of their
/// keys, then on SQLite (from 128 rows) an INSERT per 32 rows and one per
/// row left, on PostgreSQL (from 3 rows) an INSERT per 32 rows or fewer.
fn expected(db: &Database, count: usize) -> Vec<String> {
    let insert = || "INSERT members".to_owned();
    let inserts = match (is_postgres(db), count) {
        (false, 128..) => count / 32 + count % 32,
        (true, 3..) => count.div_ceil(32),
        _ => return vec![insert(); count],
    };
    std::iter::once("SELECT members".to_owned())
        .chain(vec![insert(); inserts])
        .collect()
}

#[derive(Model, Debug)]
#[orm(table = "tickets")]
pub struct Ticket {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(unique)]
    pub code: String,
    #[orm(version)]
    pub version: i64,
}

#[derive(Model, Debug)]
#[orm(table = "teams")]
pub struct Team {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(back_populates = "team")]
    pub players: HasMany<Player>,
}

#[derive(Model, Debug)]
#[orm(table = "players")]
pub struct Player {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(back_populates = "players")]
    pub team: BelongsTo<Team>,
}

#[derive(Model, Debug)]
#[orm(table = "nodes")]
pub struct Node {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(optional, back_populates = "children")]
    pub parent: BelongsTo<Node>,
    #[orm(back_populates = "parent")]
    pub children: HasMany<Node>,
}

backend_tests! {
    fn new_rows_go_in_inserts_of_32_after_one_read_of_their_keys(db) -> orm::Result<()> {
        db.create_all::<Member>()?;
        let mut all = Vec::new();
        for count in [1, 2, 3, 127, 128, 130, 200] {
            let (sent, objects) = commit_new_members(&db, count)?;
            assert_eq!(sent, expected(&db, count), "{count} new rows");
            all.extend(objects);
            assert_objects_match_rows(&db, &all)?;
        }
        Ok(())
    }

    fn the_read_of_new_keys_says_what_it_is_for(db) -> orm::Result<()> {
        db.create_all::<Member>()?;
        let recorder = db.recorder();
        commit_new_members(&db, 128)?;
        let mut causes = vec!["commit: insert into members: keys for 128 new rows"];
        causes.extend(["commit: insert into members"; 4]);
        assert_eq!(recorder.causes(), causes);
        Ok(())
    }

    fn new_rows_with_their_keys_given_go_in_multi_row_inserts_without_a_read(db) -> orm::Result<()> {
        db.create_all::<Member>()?;
        let session = db.session();
        for id in 1..=130 {
            session.add(Member { id: id * 10, name: format!("m{id}") });
        }
        let recorder = db.recorder();
        session.commit()?;
        // SQLite: four full statements and two rows; PostgreSQL: five.
        let inserts = if is_postgres(&db) { 5 } else { 4 + 2 };
        assert_eq!(statements(&recorder), vec!["INSERT members"; inserts]);
        let expected: Vec<(i64, String)> = (1..=130).map(|id| (id * 10, format!("m{id}"))).collect();
        assert_eq!(rows(&db)?, expected);
        Ok(())
    }

    fn given_and_generated_keys_in_one_flush_go_in_separate_inserts(db) -> orm::Result<()> {
        db.create_all::<Member>()?;
        let session = db.session();
        let given = session.add(Member { id: 100_000, name: "given".to_owned() });
        let generated: Vec<Handle<Member>> = (0..128)
            .map(|i| session.add(Member::new(format!("m{i}"))))
            .collect();
        let recorder = db.recorder();
        session.commit()?;
        let mut sent = vec!["INSERT members", "SELECT members"];
        sent.extend(["INSERT members"; 4]);
        assert_eq!(statements(&recorder), sent);
        let mut objects = vec![(given.read()?.id, "given".to_owned())];
        for m in &generated {
            objects.push((m.read()?.id, m.read()?.name.clone()));
        }
        assert_objects_match_rows(&db, &objects)?;
        Ok(())
    }

    fn children_wait_for_their_parents_key_then_share_inserts(db) -> orm::Result<()> {
        db.create_all::<Node>()?;
        let session = db.session();
        let root = session.add(Node::new("root"));
        let children: Vec<Handle<Node>> = (0..130)
            .map(|i| session.add(Node::new(format!("n{i}"))))
            .collect();
        for child in &children {
            root.read()?.children.push(child)?;
        }
        let recorder = db.recorder();
        session.commit()?;
        let mut sent = vec!["INSERT nodes", "SELECT nodes"];
        sent.extend(vec!["INSERT nodes"; if is_postgres(&db) { 5 } else { 4 + 2 }]);
        assert_eq!(statements(&recorder), sent, "the root, then its children");
        let root_id = root.read()?.id;
        let reader = db.session();
        for child in &children {
            let (id, name) = (child.read()?.id, child.read()?.name.clone());
            let row = reader.get::<Node>(id)?;
            assert_eq!(row.read()?.name, name);
            assert_eq!(row.read()?.parent.key(), Some(root_id));
        }
        Ok(())
    }

    fn children_of_another_table_get_the_keys_their_parents_got_in_multi_row_inserts(db) -> orm::Result<()> {
        db.create_all::<(Team, Player)>()?;
        let session = db.session();
        let mut pairs = Vec::new();
        for i in 0..130 {
            let team = session.add(Team::new(format!("t{i}")));
            let player = session.add(Player::new(format!("p{i}")));
            team.read()?.players.push(&player)?;
            pairs.push((team, player));
        }
        let recorder = db.recorder();
        session.commit()?;
        let inserts = if is_postgres(&db) { 5 } else { 4 + 2 };
        let mut sent = vec!["SELECT teams"];
        sent.extend(vec!["INSERT teams"; inserts]);
        sent.push("SELECT players");
        sent.extend(vec!["INSERT players"; inserts]);
        assert_eq!(statements(&recorder), sent);
        let reader = db.session();
        for (team, player) in &pairs {
            let row = reader.get::<Player>(player.read()?.id)?;
            assert_eq!(row.read()?.name, player.read()?.name);
            assert_eq!(row.read()?.team.key(), Some(team.read()?.id));
            assert_eq!(row.read()?.team.load()?.read()?.name, team.read()?.name);
        }
        Ok(())
    }

    fn a_failed_multi_row_insert_leaves_every_object_as_it_was(db) -> orm::Result<()> {
        db.create_all::<Ticket>()?;
        let session = db.session();
        let tickets: Vec<Handle<Ticket>> = (0..128)
            .map(|i| session.add(Ticket::new(format!("t{i}"))))
            .collect();
        // The second INSERT's first row repeats a code of the first INSERT.
        tickets[32].write()?.code = "t0".to_owned();
        let recorder = db.recorder();
        session.commit().expect_err("two tickets share a code");
        assert_eq!(
            statements(&recorder),
            ["SELECT tickets", "INSERT tickets", "INSERT tickets"]
        );
        for ticket in &tickets {
            let ticket = ticket.read()?;
            assert_eq!((ticket.id, ticket.version), (0, 0), "no key, no version");
        }
        assert_eq!(session.len(), 0);

        tickets[32].write()?.code = "t32".to_owned();
        session.commit()?;
        for ticket in &tickets {
            let ticket = ticket.read()?;
            assert_ne!(ticket.id, 0);
            assert_eq!(ticket.version, 1);
            let reader = db.session();
            assert_eq!(reader.get::<Ticket>(ticket.id)?.read()?.code, ticket.code);
        }
        Ok(())
    }
}

/// SQLite's own numbering, where a multi-row INSERT cannot follow it.
mod sqlite_numbering {
    use super::*;
    use common::backend;

    #[test]
    fn rows_past_the_largest_possible_key_are_inserted_one_by_one() -> orm::Result<()> {
        let db = backend::sqlite();
        db.create_all::<Member>()?;
        let session = db.session();
        session.add(Member {
            id: i64::MAX,
            name: "last".to_owned(),
        });
        session.commit()?;
        // SQLite now picks keys at random: none can be told from the last.
        let (sent, objects) = commit_new_members(&db, 128)?;
        let mut expected = vec!["SELECT members"];
        expected.extend(["INSERT members"; 128]);
        assert_eq!(sent, expected);
        let mut all = objects;
        all.push((i64::MAX, "last".to_owned()));
        assert_objects_match_rows(&db, &all)
    }

    #[test]
    fn an_autoincrement_counter_past_the_largest_row_makes_the_flush_run_again_row_by_row()
    -> orm::Result<()> {
        let db = backend::sqlite();
        db.execute_batch(
            "CREATE TABLE members (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL);
             INSERT INTO members (name) VALUES ('a'), ('b'), ('c'), ('d'), ('e');
             DELETE FROM members WHERE id > 3;",
        )?;
        let recorder = db.recorder();
        let (_, objects) = commit_new_members(&db, 128)?;
        let sent: Vec<String> = recorder.statements().into_iter().map(|s| s.sql).collect();
        let one_row = r#"INSERT INTO "members" ("id", "name") VALUES (?, ?)"#;
        let rows_32 = format!(
            r#"INSERT INTO "members" ("id", "name") VALUES {}"#,
            vec!["(?, ?)"; 32].join(", ")
        );
        let mut expected = vec![
            "BEGIN IMMEDIATE",
            r#"SELECT max("id") FROM "members""#,
            &rows_32,
            "ROLLBACK",
            "BEGIN IMMEDIATE",
        ];
        expected.extend([one_row; 128]);
        expected.push("COMMIT");
        assert_eq!(
            sent, expected,
            "the largest row is 3, but AUTOINCREMENT numbers from 6: run again"
        );
        let keys: Vec<i64> = objects.iter().map(|(id, _)| *id).collect();
        assert_eq!(keys, (6..134).collect::<Vec<_>>());
        let mut all = vec![
            (1, "a".to_owned()),
            (2, "b".to_owned()),
            (3, "c".to_owned()),
        ];
        all.extend(objects);
        assert_objects_match_rows(&db, &all)
    }

    #[test]
    fn a_flush_run_again_inside_a_transaction_keeps_the_earlier_flush() -> orm::Result<()> {
        let db = backend::sqlite();
        db.execute_batch(
            "CREATE TABLE members (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL);
             INSERT INTO members (name) VALUES ('a'), ('b'), ('c');",
        )?;
        let session = db.session();
        // An earlier flush of the transaction: the counter moves past the
        // largest row (4 is inserted, then deleted).
        let first = session.add(Member::new("first"));
        session.flush()?;
        session.delete(&first)?;
        session.flush()?;
        let recorder = db.recorder();
        let members: Vec<Handle<Member>> = (0..128)
            .map(|i| session.add(Member::new(format!("m{i}"))))
            .collect();
        session.flush()?;
        let control: Vec<String> = recorder
            .statements()
            .into_iter()
            .filter(|s| !s.is_data())
            .map(|s| s.sql)
            .collect();
        assert_eq!(
            control,
            [
                "SAVEPOINT orm_flush",
                "ROLLBACK TO orm_flush",
                "RELEASE orm_flush",
                "SAVEPOINT orm_flush",
                "RELEASE orm_flush",
            ],
            "the flush ran again inside the transaction"
        );
        session.commit()?;
        let keys: Vec<i64> = members
            .iter()
            .map(|m| Ok(m.read()?.id))
            .collect::<orm::Result<_>>()?;
        assert_eq!(keys, (5..133).collect::<Vec<_>>());
        let mut all = vec![
            (1, "a".to_owned()),
            (2, "b".to_owned()),
            (3, "c".to_owned()),
        ];
        all.extend((5..133).zip(0..128).map(|(k, i)| (k, format!("m{i}"))));
        assert_eq!(rows(&db)?, all, "the delete of the earlier flush stayed");
        Ok(())
    }

    #[test]
    fn a_trigger_inserting_into_the_same_table_makes_the_flush_run_again_row_by_row()
    -> orm::Result<()> {
        let db = backend::sqlite();
        db.create_all::<Member>()?;
        db.execute_batch(
            "CREATE TRIGGER shadow AFTER INSERT ON members WHEN NEW.name NOT LIKE 'shadow%'
             BEGIN INSERT INTO members (name) VALUES ('shadow of ' || NEW.name); END;",
        )?;
        let (sent, objects) = commit_new_members(&db, 128)?;
        let mut expected = vec!["SELECT members"; 1];
        expected.extend(["INSERT members"; 1 + 128]);
        assert_eq!(
            sent, expected,
            "the trigger's rows took keys between the flush's: run again"
        );
        let reader = db.session();
        for (id, name) in &objects {
            assert_eq!(&reader.get::<Member>(*id)?.read()?.name, name);
        }
        assert_eq!(rows(&db)?.len(), 256, "the members and their shadows");
        Ok(())
    }
}

/// PostgreSQL keys the flush cannot take from a sequence of the key's own.
mod postgres_keys {
    use super::*;
    use common::backend;

    #[test]
    fn an_identity_generated_always_takes_the_keys_the_flush_took() -> orm::Result<()> {
        let Some(db) = backend::postgres() else {
            return Ok(());
        };
        db.execute_batch(
            "CREATE TABLE members (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name TEXT NOT NULL)",
        )?;
        let (sent, objects) = commit_new_members(&db, 5)?;
        assert_eq!(sent, ["SELECT members", "INSERT members"]);
        assert_objects_match_rows(&db, &objects)
    }

    #[test]
    fn a_key_whose_default_is_a_shared_sequence_goes_one_row_per_insert() -> orm::Result<()> {
        let Some(db) = backend::postgres() else {
            return Ok(());
        };
        db.execute_batch(
            "CREATE SEQUENCE shared_ids;
             CREATE TABLE members (id BIGINT PRIMARY KEY DEFAULT nextval('shared_ids'), name TEXT NOT NULL)",
        )?;
        let (sent, objects) = commit_new_members(&db, 5)?;
        let mut expected = vec!["SELECT members"];
        expected.extend(["INSERT members"; 5]);
        assert_eq!(sent, expected, "no sequence of the key's own: row by row");
        assert_objects_match_rows(&db, &objects)
    }

    /// A role made for one test, dropped at its end (roles belong to the
    /// whole server, not to the test's schema).
    #[cfg(feature = "postgres")]
    struct Role<'db> {
        name: String,
        db: &'db Database,
    }

    #[cfg(feature = "postgres")]
    impl Drop for Role<'_> {
        fn drop(&mut self) {
            let name = &self.name;
            let dropped = self
                .db
                .execute_batch(&format!("DROP OWNED BY \"{name}\"; DROP ROLE \"{name}\""));
            if let Err(e) = dropped {
                eprintln!("the test role {name} is left on the server: {e}");
            }
        }
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn keys_the_session_may_not_take_from_the_sequence_go_one_row_per_insert() -> orm::Result<()> {
        let Some(db) = backend::postgres() else {
            return Ok(());
        };
        db.create_all::<Member>()?;
        // May insert into the table, not use its key's sequence: an INSERT
        // that leaves the key to its identity column needs no right on the
        // sequence, `nextval` does.
        let role = Role {
            name: format!("orm_test_no_sequence_{}", std::process::id()),
            db: &db,
        };
        let name = &role.name;
        let schema = db.schema().expect("a PostgreSQL test");
        db.execute_batch(&format!(
            "DROP ROLE IF EXISTS \"{name}\";
             CREATE ROLE \"{name}\";
             GRANT USAGE ON SCHEMA \"{schema}\" TO \"{name}\";
             GRANT SELECT, INSERT ON members TO \"{name}\";"
        ))?;
        let restricted = db.open_as(name).expect("a PostgreSQL test")?;
        assert!(
            restricted
                .execute_batch("SELECT nextval(pg_get_serial_sequence('members', 'id'))")
                .is_err(),
            "the role may not take keys from the sequence"
        );

        let whole = restricted.recorder();
        let (sent, objects) = commit_new_members(&restricted, 5)?;
        // The keys' read refused, the transaction rolled back and the
        // flush ran again: one INSERT a row, each reading its key back.
        let mut expected = vec!["SELECT members"];
        expected.extend(["INSERT members"; 5]);
        assert_eq!(sent, expected, "nextval refused: row by row");
        let control: Vec<String> = whole
            .statements()
            .into_iter()
            .filter(|s| s.is_transaction_control())
            .map(|s| s.sql)
            .collect();
        assert_eq!(
            control,
            ["BEGIN", "ROLLBACK", "BEGIN", "COMMIT"],
            "the refusal ended the first attempt; the second committed"
        );
        assert_objects_match_rows(&db, &objects)?;
        Ok(())
    }
}
