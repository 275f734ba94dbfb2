//! The N+1 watch: one relationship loaded lazily for object after object
//! of one query's result warns once, naming the `preload` that fixes it;
//! its threshold, its off switch and its strict mode.

use crate::common::shop;

use orm::prelude::*;
use orm::{Error, NPlusOne};
use shop::*;

const ORDERS_FIX: &str = "3 lazy loads of User.orders after one query of users: add `.preload(User::ORDERS)` to the query (1 statement instead of one per object)";

fn load_orders_of_every_user(db: &Database) -> orm::Result<()> {
    let session = db.session();
    for user in session.query::<User>().all()? {
        user.read()?.orders.load()?;
    }
    Ok(())
}

backend_tests! {
    fn the_third_lazy_load_of_one_relationship_warns_once_with_the_fix(db) -> orm::Result<()> {
        fill(&db)?;
        let recorder = db.recorder();
        load_orders_of_every_user(&db)?;
        // Four users: the third load warns, the fourth does not warn again.
        assert_eq!(recorder.warnings(), [ORDERS_FIX]);
        assert_eq!(recorder.count(), 1 + 4);
        Ok(())
    }

    fn two_lazy_loads_do_not_warn(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        let users = session.query::<User>().all()?;
        users[0].read()?.orders.load()?;
        users[1].read()?.orders.load()?;
        assert!(recorder.warnings().is_empty());
        Ok(())
    }

    fn a_new_query_starts_the_count_again(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        let users = session.query::<User>().all()?;
        users[0].read()?.orders.load()?;
        users[1].read()?.orders.load()?;
        // Four loads in all, but two per query result: no pattern.
        let users = session.query::<User>().all()?;
        users[2].read()?.orders.load()?;
        users[3].read()?.orders.load()?;
        assert!(recorder.warnings().is_empty());
        Ok(())
    }

    fn the_threshold_is_configurable_and_many_to_one_loads_count_too(db) -> orm::Result<()> {
        fill(&db)?;
        db.set_n_plus_one(NPlusOne::Warn { after: 2 });
        let session = db.session();
        let recorder = db.recorder();
        for order in session.query::<Order>().filter(Order::ID.le(2)).all()? {
            order.read()?.items.load()?;
        }
        assert_eq!(
            recorder.warnings(),
            [
                "2 lazy loads of Order.items after one query of orders: add `.preload(Order::ITEMS)` to the query (1 statement instead of one per object)"
            ]
        );
        recorder.clear();
        let session = db.session();
        for order in session.query::<Order>().all()? {
            // Users already in the identity map cost no load and do not count.
            order.read()?.user.load()?;
        }
        assert_eq!(
            recorder.warnings(),
            [
                "2 lazy loads of Order.user after one query of orders: add `.preload(Order::USER)` to the query (1 statement instead of one per object)"
            ]
        );
        assert_eq!(recorder.count(), 1 + 3);
        Ok(())
    }

    fn off_switch_gives_no_warning(db) -> orm::Result<()> {
        fill(&db)?;
        db.set_n_plus_one(NPlusOne::Off);
        let recorder = db.recorder();
        load_orders_of_every_user(&db)?;
        assert!(recorder.warnings().is_empty());
        Ok(())
    }

    fn strict_mode_makes_the_pattern_an_error_before_the_load_runs(db) -> orm::Result<()> {
        fill(&db)?;
        db.set_n_plus_one(NPlusOne::Strict { after: 3 });
        let session = db.session();
        let recorder = db.recorder();
        let users = session.query::<User>().all()?;
        users[0].read()?.orders.load()?;
        users[1].read()?.orders.load()?;
        recorder.clear();
        let error = users[2]
            .read()?
            .orders
            .load()
            .expect_err("the third is refused");
        match &error {
            Error::NPlusOne {
                relationship,
                loads,
                fix,
            } => {
                assert_eq!(relationship, "User.orders");
                assert_eq!(*loads, 3);
                assert_eq!(fix, ORDERS_FIX);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(recorder.count(), 0, "nothing ran");
        // The preload the error names loads them all in one statement.
        let users = session.query::<User>().preload(User::ORDERS).all()?;
        assert_eq!(users.len(), 4);
        assert_eq!(recorder.count(), 2);
        Ok(())
    }
}
