import SlipwayCore
import Testing

/// Issue 18: `database: postgres://USER@HOST:PORT/DB?sslmode=MODE`, password elsewhere.
@Suite struct PostgresLocationTests {
    @Test func theSPECsFormIsRead() throws {
        #expect(
            try PostgresLocation.parse("postgres://slipway@db.internal:6432/ci?sslmode=verify-full")
                == PostgresLocation(user: "slipway", host: "db.internal", port: 6432, database: "ci", tls: .verifyFull))
        #expect(
            try PostgresLocation.parse("postgresql://a%40b@[::1]/my%20db?sslmode=disable")
                == PostgresLocation(user: "a@b", host: "::1", port: 5432, database: "my db", tls: .disable))
        #expect(try PostgresLocation.parse("postgres://u@127.0.0.1/d?sslmode=require").tls == .require)
    }

    @Test func aPasswordInTheURLIsRefusedWithoutQuotingIt() {
        for url in [
            "postgres://slipway:hunter2@db/ci?sslmode=disable", "postgres://slipway:@db/ci?sslmode=disable",
            "postgres://slipway:pa@ss@db/ci?sslmode=disable", "postgres://slipway@db/ci?sslmode=disable&password=hunter2",
        ] {
            #expect(throws: PostgresLocation.Problem.passwordInURL) { try PostgresLocation.parse(url) }
        }
        #expect(!PostgresLocation.Problem.passwordInURL.description.contains("hunter2"))
        #expect(PostgresLocation.Problem.passwordInURL.description.contains("database_password"))
    }

    @Test func eachMissingOrMalformedPartIsNamed() {
        let cases: [(String, PostgresLocation.Problem)] = [
            ("mysql://u@h/d?sslmode=disable", .notPostgres),
            ("postgres://h/d?sslmode=disable", .missing("user")),
            ("postgres://@h/d?sslmode=disable", .missing("user")),
            ("postgres://u@/d?sslmode=disable", .missing("host")),
            ("postgres://u@h?sslmode=disable", .missing("database name")),
            ("postgres://u@h/?sslmode=disable", .missing("database name")),
            ("postgres://u@h/d", .missing("sslmode")),
            ("postgres://u@h/d?sslmode=prefer", .badTLSMode),
            ("postgres://u@h/d?sslmode", .badTLSMode),
            ("postgres://u@h:0/d?sslmode=disable", .badPort),
            ("postgres://u@h:65536/d?sslmode=disable", .badPort),
            ("postgres://u@h:99999999999999999999/d?sslmode=disable", .badPort),
            ("postgres://u@h:x/d?sslmode=disable", .badPort),
            ("postgres://u%zz@h/d?sslmode=disable", .badEncoding("user")),
            ("postgres://u@h/d%ff?sslmode=disable", .badEncoding("database name")),
            ("postgres://u@h/d%00?sslmode=disable", .badEncoding("database name")),
            ("postgres://u@h/d?sslmode=disable&application_name=x", .unknownParameter("application_name")),
        ]
        for (url, problem) in cases {
            #expect(throws: problem, "\(url)") { try PostgresLocation.parse(url) }
        }
    }

    @Test func theConfigNamesTheKeyWithoutQuotingTheURL() throws {
        let base = "webhook_secrets: [env:S]\n"
        let problems = { (yaml: String) -> [ConfigProblem] in
            do throws(ConfigError) {
                _ = try ConfigParser.parse(yaml: base + yaml)
                return []
            } catch {
                return error.problems
            }
        }
        #expect(problems("database: postgres://u:secret@h/d?sslmode=disable\n").map(\.path) == ["database"])
        #expect(problems("database: postgres://u:secret@h/d?sslmode=disable\n").allSatisfy { !$0.message.contains("secret") })
        // The SPEC's example config names a password beside `database: sqlite`: not an error.
        #expect(problems("database: sqlite\ndatabase_password: env:PG\n").isEmpty)
        #expect(problems("database: postgres://u@h/d?sslmode=disable\ndatabase_password: env:PG\n").isEmpty)
        let config = try ConfigParser.parse(yaml: base + "database: postgres://u@h/d?sslmode=require\n")
        #expect(config.database == .postgres(PostgresLocation(user: "u", host: "h", database: "d", tls: .require)))
    }
}
