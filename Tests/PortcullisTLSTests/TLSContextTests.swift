import Foundation
import PortcullisTLS
import Testing

@Suite("TLS context configuration errors")
struct TLSContextTests {
    let certs = TestCertificates.shared

    @Test func mismatchedKeyNamesTheFiles() throws {
        let source = TLSCertificateSource(
            certificateChainPEMPath: self.certs.path("server.crt"), privateKeyPEMPath: self.certs.path("other.key"))
        do {
            _ = try TLSServerContext(TLSServerConfiguration(certificates: [source]))
            Issue.record("a mismatched key was accepted")
        } catch let error as TLSError {
            guard case .certificate(let path, let reason) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(path == self.certs.path("other.key"))
            #expect(reason.contains("does not match") && reason.contains("server.crt"), "\(reason)")
            #expect(error.description.contains("other.key"))
        }
    }

    @Test func missingOrBrokenFilesNameTheFile() throws {
        let missing = TLSCertificateSource(certificateChainPEMPath: "/nonexistent/server.crt", privateKeyPEMPath: self.certs.path("server.key"))
        #expect {
            _ = try TLSServerContext(TLSServerConfiguration(certificates: [missing]))
        } throws: { error in
            guard case TLSError.certificate(let path, let reason) = error else { return false }
            return path == "/nonexistent/server.crt" && reason.contains("No such file")
        }
        let notAKey = TLSCertificateSource(certificateChainPEMPath: self.certs.path("server.crt"), privateKeyPEMPath: self.certs.path("ca.crt"))
        #expect {
            _ = try TLSServerContext(TLSServerConfiguration(certificates: [notAKey]))
        } throws: { error in
            guard case TLSError.certificate(let path, _) = error else { return false }
            return path == self.certs.path("ca.crt")
        }
        #expect(throws: TLSError.self) { _ = try TLSServerContext(TLSServerConfiguration(certificates: [])) }
        #expect(throws: TLSError.self) {
            _ = try TLSServerContext(TLSServerConfiguration(certificates: [self.certs.source("server")], clientAuthentication: .require))
        }
        #expect(throws: TLSError.self) {
            _ = try TLSServerContext(TLSServerConfiguration(certificates: [self.certs.source("server")], cipherList: "NOT-A-CIPHER"))
        }
    }

    @Test func certificateNamesComeFromSubjectAlternativeNames() throws {
        let context = try TLSServerContext(TLSServerConfiguration(certificates: [self.certs.source("server"), self.certs.source("other")]))
        #expect(context.certificateNames == [["localhost"], ["other.local", "*.other.local"]])
    }
}
