import Foundation
import SlipwayCore

/// Paths from the config resolved inside a checkout at build time. The config's check
/// is lexical (`ContainedPath`); the checkout's content decides the rest, since a
/// repository can hold symbolic links: `context: app` with `app -> /` in the repository
/// must not hand the host's root to the image builder.
enum CheckoutPaths {
    /// `relative` inside `root` with every symbolic link resolved, or nil when it does
    /// not exist or resolves to a place outside `root`.
    static func existing(_ relative: String, in root: String) -> String? {
        guard ContainedPath.isContained(relative), let realRoot = realPath(root),
            let resolved = realPath(relative == "." ? root : root + "/" + relative)
        else { return nil }
        return resolved == realRoot || resolved.hasPrefix(realRoot + "/") ? resolved : nil
    }

    /// Where to write `relative` inside `root` (the model's `dest`): its missing
    /// directories made, none of its directories a symbolic link, and the file itself
    /// removed if it was a link or a file, so the write can neither follow a link out nor
    /// replace a file elsewhere. Throws naming the component that is in the way.
    static func writable(_ relative: String, in root: String) throws(CheckoutPathError) -> String {
        guard let components = ContainedPath.normalized(relative), let name = components.last else {
            throw CheckoutPathError("'\(relative)' is not a relative path inside the build context")
        }
        var directory = root
        for component in components.dropLast() {
            directory += "/" + component
            var status = stat()
            if lstat(directory, &status) != 0 {
                guard errno == ENOENT, mkdir(directory, 0o755) == 0 else {
                    throw CheckoutPathError("cannot make directory '\(component)' of '\(relative)': \(String(cString: strerror(errno)))")
                }
                continue
            }
            guard status.st_mode & S_IFMT == S_IFDIR else {
                let what = status.st_mode & S_IFMT == S_IFLNK ? "a symbolic link" : "not a directory"
                throw CheckoutPathError("'\(component)' in '\(relative)' is \(what) in the repository")
            }
        }
        let path = directory + "/" + name
        var status = stat()
        if lstat(path, &status) == 0 {
            guard status.st_mode & S_IFMT != S_IFDIR else { throw CheckoutPathError("'\(relative)' is a directory in the repository") }
            guard unlink(path) == 0 else { throw CheckoutPathError("cannot replace '\(relative)': \(String(cString: strerror(errno)))") }
        }
        return path
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

struct CheckoutPathError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
