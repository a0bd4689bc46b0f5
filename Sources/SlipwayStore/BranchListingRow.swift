import SlipwayCore

/// The `branch_listing` table: the head each branch had at `reconcile`'s last listing.
public enum BranchListingRow {
    /// The stored head of `lane`, read back; a value no version writes is an error.
    public static func sha(_ stored: String?, lane: String) throws -> CommitID? {
        guard let stored else { return nil }
        guard let sha = CommitID(stored) else { throw StoredValueError(table: "branch_listing", row: lane, column: "sha", value: stored) }
        return sha
    }
}
