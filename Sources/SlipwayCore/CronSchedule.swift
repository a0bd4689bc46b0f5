import Foundation

/// A 5-field cron expression (minute hour day-of-month month day-of-week) in a time zone,
/// as crontab(5) writes it: `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, lists,
/// month and weekday names (`jan`, `mon`), 0 or 7 for Sunday, and the macros `@hourly`,
/// `@daily` (`@midnight`, `@nightly`), `@weekly`, `@monthly`, `@yearly`. When both
/// day-of-month and day-of-week are restricted, a day matching either runs (as in cron).
public struct CronSchedule: Sendable, Equatable {
    public let expression: String
    let minutes: Set<Int>, hours: Set<Int>, days: Set<Int>, months: Set<Int>, weekdays: Set<Int>
    let dayRestricted: Bool, weekdayRestricted: Bool

    public struct Problem: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    public init(_ expression: String) throws(Problem) {
        self.expression = expression
        let macros = [
            "@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@nightly": "0 2 * * *",
            "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *",
        ]
        let text = macros[expression.trimmingCharacters(in: .whitespaces).lowercased()] ?? expression
        let fields = text.split(whereSeparator: \.isWhitespace).map(String.init)
        guard fields.count == 5 else {
            throw Problem(
                description: "must have 5 fields (minute hour day-of-month month day-of-week), got \(fields.count) in '\(expression)'")
        }
        let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
        minutes = try Self.field(fields[0], "minute", 0...59)
        hours = try Self.field(fields[1], "hour", 0...23)
        days = try Self.field(fields[2], "day-of-month", 1...31)
        months = try Self.field(fields[3], "month", 1...12, names: monthNames, firstName: 1)
        weekdays = Set(try Self.field(fields[4], "day-of-week", 0...7, names: dayNames, firstName: 0).map { $0 % 7 })
        dayRestricted = fields[2] != "*"
        weekdayRestricted = fields[4] != "*"
    }

    private static func field(_ text: String, _ name: String, _ range: ClosedRange<Int>, names: [String] = [], firstName: Int = 0)
        throws(Problem) -> Set<Int>
    {
        func value(_ token: Substring) throws(Problem) -> Int {
            if let number = Int(token), range.contains(number) { return number }
            if let index = names.firstIndex(of: token.lowercased()) { return index + firstName }
            throw Problem(description: "\(name) '\(token)' is not in \(range.lowerBound)-\(range.upperBound)")
        }
        var result = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2, let spanText = pieces.first, !spanText.isEmpty else {
                throw Problem(description: "\(name) '\(part)' is not a cron field")
            }
            var step = 1
            if pieces.count == 2 {
                guard let parsed = Int(pieces[1]), parsed > 0 else {
                    throw Problem(description: "\(name) step '\(pieces[1])' must be a positive number")
                }
                step = parsed
            }
            let low: Int, high: Int
            if spanText == "*" {
                (low, high) = (range.lowerBound, range.upperBound)
            } else if let dash = spanText.firstIndex(of: "-") {
                (low, high) = (try value(spanText[..<dash]), try value(spanText[spanText.index(after: dash)...]))
                guard low <= high else { throw Problem(description: "\(name) range '\(spanText)' runs backwards") }
            } else {
                low = try value(spanText)
                high = pieces.count == 2 ? range.upperBound : low
            }
            result.formUnion(stride(from: low, through: high, by: step))
        }
        return result
    }

    /// The first time strictly after `date` that the schedule fires, in `timeZone`; nil
    /// when it never does (such as `0 0 31 2 *`) within the next 5 years.
    public func next(after date: Date, in timeZone: TimeZone) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        guard var day = calendar.dateInterval(of: .day, for: date)?.start else { return nil }
        for _ in 0..<(366 * 5) {
            let parts = calendar.dateComponents([.year, .month, .day, .weekday], from: day)
            if let month = parts.month, let dayOfMonth = parts.day, let weekday = parts.weekday,
                months.contains(month), matchesDay(dayOfMonth, weekday: weekday - 1)
            {
                for hour in hours.sorted() {
                    for minute in minutes.sorted() {
                        var wanted = parts
                        wanted.hour = hour
                        wanted.minute = minute
                        wanted.weekday = nil
                        guard let candidate = calendar.date(from: wanted),
                            calendar.component(.hour, from: candidate) == hour,   // not a time skipped by DST
                            candidate > date
                        else { continue }
                        return candidate
                    }
                }
            }
            guard let following = calendar.date(byAdding: .day, value: 1, to: day) else { return nil }
            day = following
        }
        return nil
    }

    private func matchesDay(_ dayOfMonth: Int, weekday: Int) -> Bool {
        switch (dayRestricted, weekdayRestricted) {
        case (true, true): days.contains(dayOfMonth) || weekdays.contains(weekday)
        case (true, false): days.contains(dayOfMonth)
        case (false, true): weekdays.contains(weekday)
        case (false, false): true
        }
    }
}
