import Testing

@testable import PortcullisCore

@Suite struct AddressTests {
    @Test func parsesAndPrintsAddresses() {
        #expect(IPAddress("192.0.2.7")?.description == "192.0.2.7")
        #expect(IPAddress("2001:db8::1")?.description == "2001:db8::1")
        #expect(IPAddress("::1")?.description == "::1")
        #expect(IPAddress("::")?.description == "::")
        #expect(IPAddress("::ffff:10.1.2.3")?.unmapped == IPAddress("10.1.2.3"))
        for bad in ["256.1.1.1", "1.2.3", "01.2.3.4", "1::2::3", "12345::", "a.b.c.d", ":1", "1:2:3:4:5:6:7:8:9"] {
            #expect(IPAddress(bad) == nil, "\(bad)")
        }
    }

    @Test func cidrMembership() {
        let v4 = CIDR("10.0.0.0/8")!
        #expect(v4.contains(IPAddress("10.255.1.1")!))
        #expect(!v4.contains(IPAddress("11.0.0.1")!))
        #expect(v4.contains(IPAddress("::ffff:10.0.0.1")!))  // mapped addresses match IPv4 blocks
        let v6 = CIDR("2001:db8::/32")!
        #expect(v6.contains(IPAddress("2001:db8:ffff::1")!))
        #expect(!v6.contains(IPAddress("2001:db9::1")!))
        #expect(CIDR("192.0.2.7")!.prefixLength == 32)
        #expect(CIDR("0.0.0.0/0")!.contains(IPAddress("8.8.8.8")!))
        #expect(CIDR("2001:db8::/129") == nil)
        #expect(CIDR("10.0.0.0/64") == nil)
        #expect(CIDR("2001:db8:0:0:8000::/65")!.contains(IPAddress("2001:db8::8000:0:0:1")!))
    }
}
