import Foundation
import SlipwayCore
import Testing

@Suite struct CronScheduleTests {
    let utc = TimeZone(identifier: "UTC")!
    let berlin = TimeZone(identifier: "Europe/Berlin")!

    func date(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }
    func next(_ expression: String, after text: String, in zone: TimeZone? = nil) throws -> String? {
        let schedule = try CronSchedule(expression)
        return schedule.next(after: date(text), in: zone ?? utc).map { ISO8601DateFormatter().string(from: $0) }
    }

    @Test func nightlyAndSteps() throws {
        #expect(try next("0 2 * * *", after: "2026-11-25T19:00:00Z") == "2026-11-26T02:00:00Z")
        #expect(try next("0 2 * * *", after: "2026-11-25T01:59:59Z") == "2026-11-25T02:00:00Z")
        #expect(try next("0 2 * * *", after: "2026-11-25T02:00:00Z") == "2026-11-26T02:00:00Z", "strictly after")
        #expect(try next("*/15 * * * *", after: "2026-11-25T10:07:00Z") == "2026-11-25T10:15:00Z")
        #expect(try next("5-10/5 9 * * *", after: "2026-11-25T09:06:00Z") == "2026-11-25T09:10:00Z")
        #expect(try next("@nightly", after: "2026-12-31T23:00:00Z") == "2027-01-01T02:00:00Z")
        #expect(try next("@hourly", after: "2026-11-25T10:00:00Z") == "2026-11-25T11:00:00Z")
    }

    @Test func namesWeekdaysAndTheCronDayRule() throws {
        // 2026-11-25 is a Wednesday.
        #expect(try next("30 8 * * mon-fri", after: "2026-11-27T09:00:00Z") == "2026-11-30T08:30:00Z", "Friday → Monday")
        #expect(try next("0 0 * * 7", after: "2026-11-25T00:00:00Z") == "2026-11-29T00:00:00Z", "7 is Sunday")
        #expect(try next("0 0 1 jan *", after: "2026-11-25T00:00:00Z") == "2027-01-01T00:00:00Z")
        // Day-of-month 1 OR Monday: Monday the 30th comes before the 1st.
        #expect(try next("0 0 1 * mon", after: "2026-11-25T00:00:00Z") == "2026-11-30T00:00:00Z")
        #expect(try next("0 0 29 2 *", after: "2026-03-01T00:00:00Z") == "2028-02-29T00:00:00Z", "leap day")
        #expect(try next("0 0 31 2 *", after: "2026-03-01T00:00:00Z") == nil, "never")
    }

    @Test func theDaemonsTimeZoneIncludingDaylightSaving() throws {
        #expect(try next("0 2 * * *", after: "2026-11-25T12:00:00Z", in: berlin) == "2026-11-26T01:00:00Z", "02:00 CET")
        #expect(try next("0 2 * * *", after: "2026-07-01T12:00:00Z", in: berlin) == "2026-07-02T00:00:00Z", "02:00 CEST")
        // 2026-03-29 02:30 does not exist in Berlin: that night is skipped.
        #expect(try next("30 2 * * *", after: "2026-03-28T12:00:00Z", in: berlin) == "2026-03-30T00:30:00Z")
    }

    @Test func badExpressionsNameTheField() {
        for (expression, words) in [
            ("0 2 * *", "5 fields"), ("60 * * * *", "minute '60'"), ("0 24 * * *", "hour '24'"),
            ("0 0 0 * *", "day-of-month '0'"), ("0 0 * 13 *", "month '13'"), ("0 0 * * 8", "day-of-week '8'"),
            ("*/0 * * * *", "step"), ("5-1 * * * *", "backwards"), ("0 0 * foo *", "month 'foo'"), ("@often", "5 fields"),
        ] {
            #expect(throws: CronSchedule.Problem.self, "\(expression)") { try CronSchedule(expression) }
            do { _ = try CronSchedule(expression) } catch { #expect(error.description.contains(words), "\(expression): \(error)") }
        }
    }
}

@Suite struct DeployScheduleConfigTests {
    func deploy(_ schedule: String) throws -> DeployConfig? {
        let yaml = """
            repositories:
              - name: acme/app
                webhook_secrets: [env:S]
                image: {name: registry.local/acme/app}
                deploy: {\(schedule)kubeconfig: file:/k, deployment: d, container: c}
            """
        return try ConfigParser.parse(yaml: yaml).repositories.first?.deploy
    }

    @Test func absentIsNightlyNullIsOnDemandOnly() throws {
        #expect(try deploy("").map(\.schedule) == DeployConfig.nightly)
        #expect(try deploy("schedule: null, ").map(\.schedule) == .some(nil))
        #expect(try deploy("schedule: '@hourly', ").map(\.schedule) == "@hourly")
        #expect(throws: ConfigError.self) { try deploy("schedule: '0 25 * * *', ") }
    }
}
