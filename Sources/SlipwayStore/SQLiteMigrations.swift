import GRDB

/// Schema migrations, registered in order from the first release. Never edit a
/// registered migration: add a new one.
enum SQLiteMigrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: deliveries, builds, steps") { db in
            try db.execute(
                sql: """
                    CREATE TABLE delivery (
                        id TEXT PRIMARY KEY NOT NULL,          -- X-GitHub-Delivery: the de-duplication key
                        event TEXT NOT NULL,
                        repository TEXT,
                        received_at REAL NOT NULL,
                        result TEXT NOT NULL,
                        build_id INTEGER
                    );
                    CREATE TABLE build (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        repository TEXT NOT NULL,
                        ref TEXT NOT NULL,
                        lane TEXT NOT NULL,
                        sha TEXT NOT NULL,
                        clone_url TEXT,
                        trigger TEXT NOT NULL,
                        delivery_id TEXT REFERENCES delivery(id),
                        state TEXT NOT NULL,
                        reason TEXT,
                        created_at REAL NOT NULL,
                        started_at REAL,
                        finished_at REAL,
                        attempts INTEGER NOT NULL DEFAULT 0
                    );
                    CREATE INDEX build_by_state ON build(state, id);
                    CREATE INDEX build_by_lane ON build(lane, id);
                    CREATE INDEX build_by_repository ON build(repository, id);
                    CREATE TABLE build_step (
                        build_id INTEGER NOT NULL REFERENCES build(id),
                        attempt INTEGER NOT NULL,
                        name TEXT NOT NULL,
                        state TEXT NOT NULL,
                        started_at REAL NOT NULL,
                        finished_at REAL,
                        exit_code INTEGER,
                        detail TEXT,
                        PRIMARY KEY (build_id, attempt, name)
                    );
                    """)
        }
        migrator.registerMigration("v2: image and model provenance") { db in
            try db.execute(
                sql: """
                    ALTER TABLE build ADD COLUMN image_name TEXT;
                    ALTER TABLE build ADD COLUMN image_tags TEXT;       -- JSON array
                    ALTER TABLE build ADD COLUMN image_digest TEXT;     -- sha256:..., set once pushed
                    ALTER TABLE build ADD COLUMN model_source TEXT;     -- the resolved object
                    ALTER TABLE build ADD COLUMN model_version TEXT;    -- ETag or version id
                    ALTER TABLE build ADD COLUMN model_sha256 TEXT;
                    """)
        }
        migrator.registerMigration("v3: commit status outbox") { db in
            try db.execute(
                sql: """
                    CREATE TABLE status_outbox (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,  -- delivery order
                        build_id INTEGER NOT NULL REFERENCES build(id),
                        repository TEXT NOT NULL,
                        sha TEXT NOT NULL,
                        state TEXT NOT NULL,                   -- pending, success, failure, error
                        description TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        next_attempt_at REAL NOT NULL,
                        delivered_at REAL,
                        closed_reason TEXT                     -- set when given up or skipped
                    );
                    CREATE INDEX status_outbox_open ON status_outbox(delivered_at, closed_reason, id);
                    """)
        }
        migrator.registerMigration("v4: deployments and the deploy schedule") { db in
            try db.execute(
                sql: """
                    CREATE TABLE deployment (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        repository TEXT NOT NULL,
                        build_id INTEGER NOT NULL REFERENCES build(id),
                        image TEXT NOT NULL,                   -- name@sha256:..., never a tag
                        model_version TEXT,
                        trigger TEXT NOT NULL,                 -- manual | schedule
                        requested_by TEXT NOT NULL,
                        state TEXT NOT NULL,
                        reason TEXT,
                        created_at REAL NOT NULL,
                        started_at REAL,
                        finished_at REAL
                    );
                    CREATE INDEX deployment_by_repository ON deployment(repository, id);
                    CREATE TABLE deploy_schedule (
                        repository TEXT PRIMARY KEY NOT NULL,
                        checked_until REAL NOT NULL            -- slots up to here have been run or missed-and-caught-up
                    );
                    """)
        }
        migrator.registerMigration("v5: queued builds of a lane by index") { db in
            // Superseding looks up the queued builds of one lane at every delivery; with
            // (lane, id) alone that read every build the lane ever had.
            try db.execute(sql: "CREATE INDEX build_by_lane_state ON build(lane, state, id)")
        }
        migrator.registerMigration("v6: drop build_by_lane") { db in
            // Every query of a lane also names the state: build_by_lane_state serves them,
            // and build_by_lane was one more b-tree written for each build.
            try db.execute(sql: "DROP INDEX build_by_lane")
        }
        migrator.registerMigration("v7: only deployable builds indexed by repository") { db in
            // Its one reader is the newest deployable build of a repository; every queued
            // build was written into it for nothing. (Listing builds by repository compares
            // lower(repository), which no index on the column serves.)
            try db.execute(
                sql: """
                    DROP INDEX build_by_repository;
                    CREATE INDEX build_deployable ON build(repository, id) WHERE state = 'success' AND image_digest IS NOT NULL;
                    """)
        }
        migrator.registerMigration("v8: readiness probe row") { db in
            // /readyz writes this one row: only a write tells that the disk takes writes.
            try db.execute(sql: "CREATE TABLE readiness (id INTEGER PRIMARY KEY CHECK (id = 1), checked_at REAL NOT NULL)")
        }
        migrator.registerMigration("v9: the fence of each claim") { db in
            // Issue 18's fencing: the claim an attempt runs under (`Build.fence`).
            try db.execute(sql: "ALTER TABLE build ADD COLUMN fence INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v10: bytes a push uploaded") { db in
            // Issue 19: what each push sent to the registry (`ImageProvenance.uploadedBytes`).
            try db.execute(sql: "ALTER TABLE build ADD COLUMN image_uploaded_bytes INTEGER")
        }
        migrator.registerMigration("v11: reconcile's branch listings and skipped heads") { db in
            // Issue 20: the head each branch had at reconcile's last listing, the head a
            // `[skip ci]` push named (only those deliveries enter the index), and the
            // builds reconcile queued, looked up by every push (only those enter it).
            try db.execute(
                sql: """
                    CREATE TABLE branch_listing (
                        lane TEXT PRIMARY KEY NOT NULL,
                        sha TEXT NOT NULL,
                        listed_at REAL NOT NULL
                    );
                    ALTER TABLE delivery ADD COLUMN skipped_lane TEXT;
                    ALTER TABLE delivery ADD COLUMN skipped_sha TEXT;
                    CREATE INDEX delivery_skipped_head ON delivery(skipped_lane, skipped_sha) WHERE skipped_lane IS NOT NULL;
                    CREATE INDEX build_reconciled ON build(lane, sha) WHERE trigger = 'reconcile';
                    """)
        }
        migrator.registerMigration("v12: signed provenance") { db in
            // Issue 21: the pushed image's attestation, a DSSE envelope (JSON).
            try db.execute(sql: "ALTER TABLE build ADD COLUMN provenance TEXT")
        }
        return migrator
    }
}
