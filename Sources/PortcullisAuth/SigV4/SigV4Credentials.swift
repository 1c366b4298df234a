/// One access key the `sigv4` authorizer knows: its secret, whose it is, and whether it may sign.
public struct SigV4Credential: Sendable {
    public var accessKeyID: String
    public var secret: String
    /// `arn:aws:iam::123456789012:user/alice` or an assumed-role session ARN.
    public var principalARN: String
    public var active: Bool
    /// Temporary credentials: the session token the request must carry (X-Amz-Security-Token),
    /// and when it expires (seconds since 1970).
    public var sessionToken: String?
    public var expires: Int64?

    public init(
        accessKeyID: String, secret: String, principalARN: String, active: Bool = true, sessionToken: String? = nil,
        expires: Int64? = nil
    ) {
        self.accessKeyID = accessKeyID
        self.secret = secret
        self.principalARN = principalARN
        self.active = active
        self.sessionToken = sessionToken
        self.expires = expires
    }

    /// The 12-digit account of the principal ARN (`arn:aws:iam::ACCOUNT:...`).
    public var accountID: String {
        let parts = principalARN.split(separator: ":", omittingEmptySubsequences: false)
        return parts.count > 4 ? String(parts[4]) : ""
    }
}
