import Foundation
import Testing

/// Helpers shared by the PortcullisTLS tests: byte codecs, paths, temp dirs, child processes.
enum TestSupport {
    static func hex(_ string: String) -> [UInt8] {
        let chars = Array(string.utf8)
        precondition(chars.count % 2 == 0, "odd hex length")
        return stride(from: 0, to: chars.count, by: 2).map { UInt8(String(decoding: chars[$0..<($0 + 2)], as: UTF8.self), radix: 16)! }
    }

    static func hexString(_ bytes: [UInt8]) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// Base64url without padding, as in JOSE; nil on bad input.
    static func base64URL(_ string: String) -> [UInt8]? {
        var text = string.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        return Data(base64Encoded: text).map { [UInt8]($0) }
    }

    /// The package root, derived from this file's path (Tests/PortcullisTLSTests/TestSupport.swift).
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// `<repo root>/../shared/vectors`, where CI puts the published vectors beside the clone.
    static var vectorsDirectory: URL {
        repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/vectors")
    }

    static var fixturesDirectory: URL {
        repositoryRoot.appendingPathComponent("Tests/PortcullisTLSTests/Fixtures")
    }

    static func makeTemporaryDirectory(_ prefix: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    struct ProcessResult {
        var status: Int32
        var output: String
    }

    /// Runs `executable` (looked up on PATH via /usr/bin/env) and returns its exit status and
    /// combined stdout+stderr. Throws only when the process cannot be started at all.
    static func run(_ executable: String, _ arguments: [String], input: String? = nil) throws -> ProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let inputPipe = Pipe()
        process.standardInput = inputPipe
        try process.run()
        if let input { inputPipe.fileHandleForWriting.write(Data(input.utf8)) }
        try? inputPipe.fileHandleForWriting.close()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return ProcessResult(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }
}
