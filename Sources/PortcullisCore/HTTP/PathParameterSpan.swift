/// A path parameter bound during routing, as offsets into the request path: Strings are made
/// only for the phases that read them.
public struct PathParameterSpan: Sendable {
    public let name: String
    public let start: Int
    public let end: Int

    public init(name: String, start: Int, end: Int) {
        self.name = name
        self.start = start
        self.end = end
    }
}
