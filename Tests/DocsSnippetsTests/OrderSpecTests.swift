// The spec of the ChronicleTesting catalog, verbatim: change both together.
import ChronicleTesting
import Testing

@Suite struct OrderSpecTests {
    @Test func confirmingAPlacedOrderConfirmsIt() throws {
        try AggregateSpec<Order>
            .given(.placed(OrderPlaced(customer: "ada", total: 30)))
            .when(.confirm)
            .then(.confirmed(OrderConfirmed()))
    }

    @Test func confirmingACancelledOrderFails() throws {
        try AggregateSpec<Order>
            .given(.placed(OrderPlaced(customer: "ada", total: 30)), .cancelled(OrderCancelled(reason: "changed her mind")))
            .when(.confirm)
            .thenThrows(Order.Failure.alreadyCancelled)
    }
}
