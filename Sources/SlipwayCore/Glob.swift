/// Branch and tag patterns as GitHub Actions and Woodpecker users write them:
/// `*` matches anything but `/`, `**` matches anything, `?` one character other than
/// `/`, `[abc]`, `[a-z]` and `[!abc]` one character from (or not from) a set.
public enum Glob {
    public static func matches(_ pattern: String, _ text: String) -> Bool {
        match(Array(pattern.unicodeScalars), 0, Array(text.unicodeScalars), 0)
    }

    public static func isValid(_ pattern: String) -> Bool {
        guard !pattern.isEmpty else { return false }
        var inClass = false
        for scalar in pattern.unicodeScalars {
            if scalar == "[" && !inClass { inClass = true } else if scalar == "]" && inClass { inClass = false }
        }
        return !inClass
    }

    private static func match(_ p: [Unicode.Scalar], _ pi: Int, _ t: [Unicode.Scalar], _ ti: Int) -> Bool {
        var pi = pi
        var ti = ti
        while pi < p.count {
            switch p[pi] {
            case "*":
                let doubleStar = pi + 1 < p.count && p[pi + 1] == "*"
                let next = pi + (doubleStar ? 2 : 1)
                var end = ti
                while true {
                    if match(p, next, t, end) { return true }
                    guard end < t.count, doubleStar || t[end] != "/" else { return false }
                    end += 1
                }
            case "?":
                guard ti < t.count, t[ti] != "/" else { return false }
                pi += 1
                ti += 1
            case "[":
                guard ti < t.count, let (matched, after) = matchClass(p, pi, t[ti]), matched else { return false }
                pi = after
                ti += 1
            default:
                guard ti < t.count, t[ti] == p[pi] else { return false }
                pi += 1
                ti += 1
            }
        }
        return ti == t.count
    }

    /// Whether `c` is in the class starting at `p[start] == "["`, and the index after `]`.
    private static func matchClass(_ p: [Unicode.Scalar], _ start: Int, _ c: Unicode.Scalar) -> (Bool, Int)? {
        var i = start + 1
        let negated = i < p.count && p[i] == "!"
        if negated { i += 1 }
        var found = false
        var first = true
        while i < p.count, p[i] != "]" || first {
            first = false
            if i + 2 < p.count, p[i + 1] == "-", p[i + 2] != "]" {
                if p[i] <= c && c <= p[i + 2] { found = true }
                i += 3
            } else {
                if p[i] == c { found = true }
                i += 1
            }
        }
        guard i < p.count else { return nil }
        return (found != negated, i + 1)
    }
}
