"""What a new store's shop holds, as its owner and shoppers would check it: the original platform's sample catalog
(reference §5.3), which engine setup seeds. One list for every test that looks at a seeded store."""

MEDUSA_PRODUCTS = frozenset(
    {
        "Classic Cotton T-Shirt",
        "Slim Fit Denim Jeans",
        "Leather Crossbody Bag",
        "Wireless Bluetooth Headphones",
        "Canvas Sneakers",
        "Stainless Steel Watch",
        "Organic Cotton Hoodie",
        "Portable Power Bank",
    }
)
