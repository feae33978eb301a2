#!/usr/bin/env python3
"""Generate the demo product catalog in data/demo/.

Writes:
  data/demo/catalog.json   {"products": [...], "reviews": [...]}
  data/demo/<category>.svg one placeholder image per category

Standard library only and deterministic (fixed seed): running it twice
produces byte-identical files.

Usage: python3 scripts/demo_catalog.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SEED = 20240601
OUT_DIR = Path(__file__).resolve().parent.parent / "data" / "demo"

# slug -> (sku code, colour, base tag, products)
# product: (title, brand, price, extra tags, description)
CATEGORIES: dict[str, tuple[str, str, str, list[tuple[str, str, float, str, str]]]] = {
    "smartphones": ("SMA", "#3b82f6", "smartphone", [
        ("iPhone 15 Pro", "Apple", 999.00, "ios flagship",
         "A titanium flagship with a 6.1-inch Super Retina display and an A17 Pro chip."),
        ("iPhone 14", "Apple", 729.00, "ios",
         "A dependable 6.1-inch iPhone with all-day battery life and a dual-camera system."),
        ("Galaxy Phone X", "Samsung", 849.99, "android flagship",
         "A bright 6.7-inch AMOLED display paired with a 200 MP main camera."),
        ("Pixel Phone 8", "Google", 699.00, "android camera",
         "Computational photography and seven years of OS updates in a compact body."),
        ("Orion Smartphone Lite", "Orion", 249.99, "android budget",
         "An affordable 6.5-inch smartphone with a 5000 mAh battery and 128 GB storage."),
        ("Vertex Smartphone Pro Max", "Vertex", 1049.00, "android 5g",
         "A large-screen 5G smartphone with a periscope zoom lens and 120 W fast charging."),
        ("Lumen A54 5G", "Lumen", 379.00, "android 5g",
         "A mid-range 5G handset with an IP67 rating and a 50 MP stabilised camera."),
        ("Nexa Fold 2", "Nexa", 1499.00, "android foldable",
         "A foldable with a 7.6-inch inner screen that doubles as a pocket tablet."),
        ("Vertex V12 Mini", "Vertex", 499.00, "android compact",
         "A one-handed 5.9-inch phone that still fits a flagship-class processor."),
        ("Orion Note 13", "Orion", 299.00, "android stylus",
         "A large-display handset with a built-in stylus for quick notes and sketches."),
    ]),
    "laptops": ("LAP", "#6366f1", "laptop", [
        ("MacBook Air 13 M2", "Apple", 1099.00, "macos ultrabook",
         "A fanless, featherweight laptop with an 18-hour battery and a Liquid Retina display."),
        ("Vertex Book Pro 14", "Vertex", 1349.00, "windows ultrabook",
         "A 14-inch OLED laptop with 16 GB RAM and a backlit aluminium keyboard."),
        ("Orion UltraSlim 13", "Orion", 849.99, "windows ultrabook",
         "Just 1.1 kg and 13 mm thin, built for working on the move."),
        ("Titan Gaming Laptop 17", "Titan", 1899.00, "gaming windows",
         "A 17.3-inch 240 Hz gaming laptop with a dedicated RTX graphics card."),
        ("Nexa Chromebook 11", "Nexa", 249.00, "chromeos student",
         "A rugged, spill-resistant Chromebook designed for students."),
        ("Lumen Studio 16", "Lumen", 2199.00, "creator windows",
         "A colour-accurate 16-inch display and a powerful GPU for video editing."),
        ("Vertex Book Air 13", "Vertex", 749.00, "windows",
         "An everyday 13-inch laptop with a fast SSD and a full-HD webcam."),
        ("Titan Creator 15", "Titan", 1599.00, "creator gaming",
         "A 15.6-inch 4K laptop that balances gaming power with studio-grade colour."),
        ("Orion Workstation 15", "Orion", 2499.00, "business workstation",
         "A mobile workstation with ECC memory and ISV-certified graphics."),
        ("Nexa Flip 14 2-in-1", "Nexa", 679.00, "convertible touchscreen",
         "A 360-degree hinge lets this touchscreen laptop double as a tablet."),
    ]),
    "tablets": ("TAB", "#0ea5e9", "tablet", [
        ("iPad Air 11", "Apple", 599.00, "ipados",
         "An 11-inch Liquid Retina tablet with Apple Pencil and keyboard support."),
        ("iPad Mini", "Apple", 499.00, "ipados compact",
         "A compact 8.3-inch tablet that is easy to hold in one hand."),
        ("Vertex Tab S9", "Vertex", 799.99, "android amoled",
         "An 11-inch AMOLED tablet with an included stylus and IP68 water resistance."),
        ("Orion Pad 10", "Orion", 229.00, "android budget",
         "A family-friendly 10-inch tablet for streaming, browsing and video calls."),
        ("Lumen Note Tablet 12", "Lumen", 449.00, "android stylus",
         "A 12-inch tablet with a paper-like matte screen for handwritten notes."),
        ("Nexa Kids Tablet 8", "Nexa", 129.99, "kids",
         "An 8-inch tablet with a shockproof case and built-in parental controls."),
        ("Vertex Tab Lite", "Vertex", 199.00, "android",
         "A slim 10.4-inch tablet with quad speakers for movies on the go."),
        ("Orion Pad Pro 12.9", "Orion", 899.00, "android pro",
         "A 12.9-inch 144 Hz display and a laptop-class chip for serious multitasking."),
        ("PaperLight E-Reader 7", "Inkwell", 139.99, "e-reader",
         "A glare-free 7-inch e-ink reader with a warm front light and weeks of battery."),
    ]),
    "mobile-accessories": ("MOB", "#14b8a6", "accessories", [
        ("Clear Phone Case for iPhone 15", "Shieldly", 19.99, "case iphone",
         "A slim, crystal-clear case with raised edges that resists yellowing."),
        ("Adjustable Aluminum Phone Stand", "Deskmate", 24.99, "stand desk",
         "A sturdy desk stand with adjustable height and angle for phones and small tablets."),
        ("Magnetic Wireless Charger 15W", "Voltix", 34.99, "charger wireless",
         "A magnetic charging pad that snaps into place and charges at up to 15 W."),
        ("20W USB-C Fast Charger", "Voltix", 17.99, "charger usb-c",
         "A compact wall charger that brings most phones to 50% in about 30 minutes."),
        ("Braided USB-C Cable 2m", "Voltix", 12.99, "cable usb-c",
         "A tangle-resistant nylon braided cable rated for 10,000 bends."),
        ("10000mAh Slim Power Bank", "Voltix", 29.99, "power-bank portable",
         "A pocket-sized power bank with USB-C input and output."),
        ("Tempered Glass Screen Protector 2-Pack", "Shieldly", 9.99, "screen-protector",
         "9H tempered glass with an easy-install alignment frame."),
        ("Car Vent Phone Mount", "Deskmate", 15.99, "car mount",
         "A one-hand vent mount that keeps your phone secure on bumpy roads."),
        ("Leather Wallet Phone Case", "Shieldly", 39.99, "case leather",
         "Genuine leather folio case with three card slots and a magnetic clasp."),
        ("Foldable Phone Grip Holder", "Deskmate", 7.99, "grip",
         "A low-profile grip that doubles as a kickstand for watching videos."),
    ]),
    "audio": ("AUD", "#8b5cf6", "audio", [
        ("Wireless Noise-Cancelling Headphones", "Sonora", 249.99, "headphones bluetooth anc",
         "Adaptive noise cancelling and 30 hours of playback in a foldable over-ear design."),
        ("Studio Over-Ear Headphones", "Sonora", 149.00, "headphones wired studio",
         "Closed-back monitoring headphones with a flat, accurate frequency response."),
        ("True Wireless Earphones Pro", "Auralis", 179.99, "earphones bluetooth anc",
         "Compact earbuds with active noise cancelling and a wireless charging case."),
        ("Sport Bluetooth Earphones", "Auralis", 59.99, "earphones sport",
         "Sweat-resistant ear hooks keep these earphones in place during workouts."),
        ("Kids Volume-Limited Headphones", "Sonora", 29.99, "headphones kids",
         "Volume capped at 85 dB to protect young ears, with a durable bendable band."),
        ("Wired In-Ear Earphones", "Auralis", 14.99, "earphones wired",
         "Lightweight earphones with an inline microphone and a 3.5 mm jack."),
        ("Portable Bluetooth Speaker", "Boomly", 79.99, "speaker bluetooth",
         "A waterproof speaker with 360-degree sound and 20 hours of battery."),
        ("Smart Speaker Mini", "Boomly", 49.00, "speaker smart-home",
         "A voice-controlled speaker for music, timers and smart-home control."),
        ("Soundbar 2.1 with Subwoofer", "Boomly", 299.00, "soundbar tv",
         "A slim soundbar with a wireless subwoofer for fuller TV and movie sound."),
        ("USB Condenser Microphone", "Auralis", 89.99, "microphone podcast",
         "A plug-and-play cardioid microphone for podcasts, streaming and calls."),
        ("Retro Vinyl Turntable", "Retrotone", 129.00, "turntable vinyl",
         "A belt-driven turntable with built-in speakers and Bluetooth output."),
    ]),
    "cameras": ("CAM", "#f59e0b", "camera", [
        ("Optica Z50 Mirrorless Camera", "Optica", 859.00, "mirrorless",
         "A 20.9 MP APS-C mirrorless body with fast hybrid autofocus and 4K video."),
        ("Optica Z6 Full-Frame Camera", "Optica", 1799.00, "mirrorless full-frame",
         "A 24.5 MP full-frame sensor with in-body stabilisation and weather sealing."),
        ("GoVista 4K Action Camera", "GoVista", 299.99, "action waterproof",
         "A rugged action camera, waterproof to 10 m without a housing."),
        ("Snapbox Instant Film Camera", "Snapbox", 79.99, "instant film",
         "Print credit-card-sized photos in seconds with automatic exposure."),
        ("Optica Travel Zoom 30x", "Optica", 399.00, "compact zoom",
         "A pocketable compact camera with a 30x optical zoom lens."),
        ("GoVista Vlogging Camera Kit", "GoVista", 549.00, "vlogging kit",
         "A flip-screen vlogging camera bundled with a grip tripod and a windscreen."),
        ("Optica 50mm f/1.8 Prime Lens", "Optica", 219.00, "lens",
         "A fast, lightweight prime lens for portraits with creamy background blur."),
        ("Steadi Carbon Travel Tripod", "Steadi", 189.00, "tripod travel",
         "A 1.2 kg carbon fibre tripod that folds down to 40 cm."),
        ("Guardly Wi-Fi Security Camera", "Guardly", 39.99, "security smart-home",
         "A 2K indoor camera with night vision, motion alerts and two-way audio."),
        ("Steadi Camera Sling Bag", "Steadi", 69.00, "bag",
         "A padded sling bag that holds a mirrorless body and two lenses."),
    ]),
    "smartwatches": ("SWT", "#ec4899", "smartwatch", [
        ("Apple Watch Series 9", "Apple", 399.00, "watchos fitness",
         "An always-on Retina display, ECG app and double-tap gesture control."),
        ("Vertex Watch 6", "Vertex", 299.99, "wear-os",
         "A round AMOLED smartwatch with sleep coaching and body composition tracking."),
        ("Orion Fit Band 4", "Orion", 49.99, "fitness-tracker",
         "A slim fitness band with heart rate, SpO2 and two weeks of battery."),
        ("Pulse Sport GPS Watch", "Pulse", 249.00, "gps running",
         "Multi-band GPS and detailed training metrics for runners and cyclists."),
        ("Pulse Kids Smartwatch", "Pulse", 89.00, "kids gps",
         "GPS location, SOS calls and a school mode for peace of mind."),
        ("Lumen Classic Hybrid Watch", "Lumen", 179.00, "hybrid analog",
         "A classic analogue face with hidden step tracking and notifications."),
        ("Vertex Watch Active", "Vertex", 199.00, "fitness",
         "A lightweight sport smartwatch with automatic workout detection."),
        ("Orion Fit Band Lite", "Orion", 29.99, "fitness-tracker budget",
         "An entry-level tracker for steps, sleep and daily activity goals."),
        ("Pulse Trail Outdoor Watch", "Pulse", 449.00, "outdoor gps",
         "A rugged outdoor watch with topo maps, a barometer and solar charging."),
    ]),
    "gaming": ("GAM", "#ef4444", "gaming", [
        ("Nexplay Handheld Gaming Console", "Nexplay", 399.00, "console handheld",
         "A 7-inch handheld that plays your PC library anywhere."),
        ("Nexplay Wireless Game Controller", "Nexplay", 59.99, "controller",
         "Hall-effect sticks, rumble and 40 hours of battery per charge."),
        ("Keyforge RGB Mechanical Keyboard", "Keyforge", 129.99, "keyboard rgb",
         "Hot-swappable switches and per-key RGB in a compact 75% layout."),
        ("Keyforge Gaming Mouse 16000 DPI", "Keyforge", 49.99, "mouse",
         "A 62 g ultralight mouse with a precise optical sensor."),
        ("Sonora 7.1 Surround Gaming Headset", "Sonora", 89.00, "headset",
         "Virtual 7.1 surround sound and a detachable noise-reducing boom microphone."),
        ("Titan 27\" 165Hz Gaming Monitor", "Titan", 329.00, "monitor",
         "A 27-inch QHD IPS panel with 1 ms response time and adaptive sync."),
        ("Throne Ergonomic Gaming Chair", "Throne", 279.00, "chair",
         "Adjustable lumbar support, 4D armrests and a 165-degree recline."),
        ("Keyforge XXL Desk Mouse Pad", "Keyforge", 19.99, "mousepad",
         "A 90 x 40 cm stitched-edge desk mat with a smooth cloth surface."),
        ("Nexplay Controller Charging Dock", "Nexplay", 24.99, "charger controller",
         "Charge two controllers at once with LED status indicators."),
        ("Nexplay VR Headset", "Nexplay", 499.00, "vr",
         "A standalone virtual reality headset with inside-out tracking."),
    ]),
    "home-appliances": ("HAP", "#10b981", "appliance", [
        ("Tidy Robot Vacuum Cleaner", "Tidy", 299.00, "vacuum smart-home",
         "LiDAR mapping and app scheduling keep floors clean while you are out."),
        ("Tidy Cordless Stick Vacuum", "Tidy", 199.99, "vacuum cordless",
         "A lightweight cordless vacuum with 45 minutes of runtime."),
        ("Breeze HEPA Air Purifier", "Breeze", 149.00, "air-purifier",
         "A true HEPA filter captures 99.97% of dust, pollen and pet dander."),
        ("Breeze Ultrasonic Humidifier", "Breeze", 49.99, "humidifier",
         "A whisper-quiet 4 L humidifier that runs for up to 30 hours."),
        ("Breeze Oscillating Tower Fan", "Breeze", 69.99, "fan cooling",
         "A slim 105 cm tower fan with a remote, a timer and three speed settings."),
        ("Homewell Front-Load Washing Machine 8kg", "Homewell", 549.00, "laundry",
         "An energy-efficient 8 kg washer with a steam hygiene cycle."),
        ("Homewell Compact Dishwasher", "Homewell", 399.00, "dishwasher",
         "A countertop dishwasher that fits six place settings."),
        ("Homewell Steam Iron 2400W", "Homewell", 39.99, "iron laundry",
         "A ceramic soleplate and powerful steam shot for crease-free shirts."),
        ("Breeze Ceramic Space Heater", "Breeze", 44.99, "heater",
         "A compact heater with tip-over protection and an adjustable thermostat."),
        ("Breeze Dehumidifier 20L", "Breeze", 229.00, "dehumidifier",
         "Removes up to 20 litres of moisture a day to keep damp rooms dry."),
    ]),
    "kitchen": ("KIT", "#f97316", "kitchen", [
        ("Brewster Espresso Machine", "Brewster", 349.00, "coffee espresso",
         "A 15-bar pump espresso machine with a built-in steam wand."),
        ("Brewster 12-Cup Drip Coffee Maker", "Brewster", 59.99, "coffee",
         "Programmable brewing and a keep-warm plate for your morning pot."),
        ("Brewster Electric Kettle 1.7L", "Brewster", 34.99, "kettle",
         "A stainless steel kettle with variable temperature presets for tea."),
        ("Cookwise Air Fryer 5.5L", "Cookwise", 89.99, "air-fryer",
         "Crispy results with up to 85% less oil and eight one-touch presets."),
        ("Cookwise Stand Mixer", "Cookwise", 279.00, "baking mixer",
         "A 5 L stand mixer with a dough hook, a whisk and a flat beater."),
        ("Cookwise High-Speed Blender", "Cookwise", 119.00, "blender smoothies",
         "A 1400 W blender that crushes ice and makes silky smoothies."),
        ("Panmaster Nonstick Frying Pan 28cm", "Panmaster", 29.99, "cookware pan",
         "A PFOA-free nonstick pan suitable for all hobs, including induction."),
        ("Panmaster Stainless Cookware Set 10-Piece", "Panmaster", 199.00, "cookware set",
         "Tri-ply stainless steel pots and pans with tempered glass lids."),
        ("Edgecraft 8\" Chef's Knife", "Edgecraft", 79.00, "knife",
         "A forged German steel chef's knife with a full tang and an ergonomic handle."),
        ("Edgecraft Bamboo Cutting Board Set", "Edgecraft", 24.99, "cutting-board",
         "Three sustainably sourced bamboo boards with juice grooves."),
        ("Brewster 2-Slice Toaster", "Brewster", 39.99, "toaster",
         "Extra-wide slots, six browning levels and a bagel setting."),
    ]),
    "furniture": ("FUR", "#a16207", "furniture", [
        ("Nordhaus Oak Dining Table", "Nordhaus", 699.00, "dining wood",
         "A solid oak table that seats six, finished with natural oil."),
        ("Loftly Mid-Century Armchair", "Loftly", 349.00, "living-room chair",
         "Tapered walnut legs and a soft boucle seat in a timeless silhouette."),
        ("Loftly 3-Seater Fabric Sofa", "Loftly", 899.00, "living-room sofa",
         "A deep-seated sofa with removable, washable cushion covers."),
        ("Oakline Electric Standing Desk", "Oakline", 449.00, "office desk",
         "Dual motors adjust the height from 62 to 127 cm with four memory presets."),
        ("Oakline Ergonomic Office Chair", "Oakline", 299.00, "office chair",
         "A breathable mesh back with adjustable lumbar support and armrests."),
        ("Nordhaus 5-Tier Bookshelf", "Nordhaus", 129.00, "storage",
         "An open bookshelf in oak veneer with a powder-coated steel frame."),
        ("Nordhaus Queen Bed Frame", "Nordhaus", 549.00, "bedroom bed",
         "An upholstered platform bed with a padded headboard; no box spring needed."),
        ("Loftly Nightstand with Drawer", "Loftly", 119.00, "bedroom",
         "A compact bedside table with a soft-close drawer and an open shelf."),
        ("Oakline Low TV Stand", "Oakline", 229.00, "living-room storage",
         "A 160 cm media unit with cable management and sliding doors."),
        ("Nordhaus Walnut Coffee Table", "Nordhaus", 259.00, "living-room",
         "A round walnut coffee table with a lower shelf for magazines."),
    ]),
    "home-decoration": ("HDC", "#d946ef", "home-decor", [
        ("Ceramic Table Vase", "Hearth & Home", 29.99, "vase ceramic",
         "A hand-glazed stoneware vase in a matte sand finish."),
        ("Macrame Wall Hanging", "Hearth & Home", 34.99, "wall-art boho",
         "Handwoven cotton macrame on a driftwood dowel."),
        ("Scented Soy Candle Set", "Lumina", 24.99, "candles",
         "Three soy wax candles in fig, cedar and linen scents."),
        ("Round Wall Mirror 60cm", "Nordhaus", 79.00, "mirror",
         "A thin brass-finish frame makes any hallway feel brighter and larger."),
        ("Linen Throw Pillow Cover", "Hearth & Home", 19.99, "textiles",
         "A washed linen cover with a hidden zip, 45 x 45 cm."),
        ("Artificial Fiddle Leaf Fig 150cm", "Hearth & Home", 89.00, "plants",
         "A lifelike faux plant that never needs watering."),
        ("Framed Botanical Print Set", "Nordhaus", 59.00, "wall-art prints",
         "Three vintage-style botanical prints in oak frames."),
        ("Warm White LED String Lights", "Lumina", 14.99, "lighting",
         "Ten metres of copper-wire fairy lights with a remote and a timer."),
        ("Woven Seagrass Storage Basket", "Hearth & Home", 27.99, "storage",
         "A handwoven basket with handles for blankets, toys or laundry."),
        ("Brass Table Lamp", "Lumina", 69.00, "lighting lamp",
         "A brushed brass lamp with a pleated linen shade."),
    ]),
    "beauty": ("BEA", "#f43f5e", "beauty", [
        ("Velvet Matte Liquid Lipstick", "Velvette", 14.99, "makeup lips",
         "A long-wearing liquid lipstick that dries to a comfortable matte finish."),
        ("Volumizing Mascara", "Velvette", 11.99, "makeup eyes",
         "A buildable, smudge-proof formula for bold volume and lift."),
        ("Eyeshadow Palette 12 Shades", "Rosalie", 24.00, "makeup eyes",
         "Twelve blendable neutral and shimmer shades for day-to-night looks."),
        ("Liquid Foundation SPF 15", "Glowlab", 29.00, "makeup face",
         "A medium-coverage foundation with a natural satin finish."),
        ("Makeup Brush Set 12-Piece", "Rosalie", 32.99, "tools brushes",
         "Soft, cruelty-free synthetic brushes with a travel pouch."),
        ("Gel Nail Polish Set", "Velvette", 19.99, "nails",
         "Six chip-resistant colours that last up to ten days."),
        ("Translucent Setting Powder", "Glowlab", 18.00, "makeup face",
         "A finely milled powder that blurs pores and locks makeup in place."),
        ("Precision Eyebrow Pencil", "Rosalie", 9.99, "makeup brows",
         "An ultra-fine tip with a spoolie for natural-looking brows."),
        ("Cream Blush Duo", "Glowlab", 16.50, "makeup face",
         "Two buildable cream blushes for a fresh, dewy flush."),
        ("Gentle Makeup Remover Wipes", "Glowlab", 6.99, "cleansing",
         "Fragrance-free wipes that remove waterproof mascara without tugging."),
    ]),
    "fragrances": ("FRA", "#a855f7", "fragrance", [
        ("Noir Eau de Parfum 100ml", "Maison Lyre", 98.00, "perfume unisex",
         "A smoky blend of black pepper, leather and vanilla."),
        ("Citrus Bloom Eau de Toilette 50ml", "Maison Lyre", 64.00, "perfume womens",
         "Bright bergamot and neroli over a soft white-musk base."),
        ("Oud Royale Eau de Parfum", "Atelier Sable", 145.00, "perfume luxury",
         "A rich oud and rose composition with lasting sillage."),
        ("Fresh Aqua Cologne 100ml", "Atelier Sable", 55.00, "cologne mens",
         "A crisp aquatic scent with notes of sea salt and cedar."),
        ("Vanilla Musk Body Mist", "Rosalie", 18.99, "body-mist",
         "A light, sweet body mist for everyday layering."),
        ("Rose Garden Eau de Parfum", "Maison Lyre", 89.00, "perfume womens floral",
         "Fresh-cut Damask rose with a hint of lychee and pink pepper."),
        ("Cedar & Sage Eau de Toilette", "Atelier Sable", 72.00, "perfume mens",
         "An earthy, aromatic scent of cedarwood, clary sage and vetiver."),
        ("Travel Perfume Discovery Set", "Maison Lyre", 35.00, "gift-set",
         "Five 2 ml vials to find your signature scent."),
        ("Amber Nights Eau de Parfum", "Atelier Sable", 110.00, "perfume unisex",
         "A warm amber and tonka bean fragrance for evenings."),
    ]),
    "skin-care": ("SKN", "#22c55e", "skincare", [
        ("Hyaluronic Acid Hydrating Serum", "Dermapure", 22.00, "serum hydration",
         "Multi-weight hyaluronic acid plumps and hydrates all skin types."),
        ("Vitamin C Brightening Serum", "Glowlab", 28.00, "serum brightening",
         "A stable 15% vitamin C serum that evens out skin tone."),
        ("Gentle Foaming Cleanser", "Dermapure", 14.50, "cleanser",
         "A pH-balanced cleanser that removes impurities without stripping."),
        ("Daily Moisturizer SPF 30", "Dermapure", 19.99, "moisturizer spf",
         "A lightweight daily cream with broad-spectrum sun protection."),
        ("Retinol Night Cream", "Glowlab", 34.00, "anti-aging",
         "Encapsulated retinol smooths fine lines while you sleep."),
        ("Kaolin Clay Face Mask", "Botanica", 16.00, "mask",
         "A purifying clay mask that draws out excess oil in ten minutes."),
        ("Mineral Sunscreen SPF 50", "Botanica", 21.00, "spf sensitive",
         "A zinc-based sunscreen that leaves no white cast."),
        ("Caffeine Eye Cream", "Glowlab", 24.00, "eye-care",
         "Reduces the look of puffiness and dark circles."),
        ("Micellar Cleansing Water 400ml", "Dermapure", 9.99, "cleanser",
         "A no-rinse cleanser that lifts makeup and dirt in one swipe."),
        ("Nourishing Lip Balm Trio", "Botanica", 8.50, "lip-care",
         "Shea butter balms in unscented, mint and berry."),
    ]),
    "groceries": ("GRO", "#84cc16", "groceries", [
        ("Extra Virgin Olive Oil 1L", "Harvest Table", 14.99, "pantry oil",
         "Cold-pressed olive oil from a single estate in Andalusia."),
        ("Raw Wildflower Honey 500g", "Green Valley", 9.49, "organic sweetener",
         "Unfiltered honey from small local apiaries."),
        ("Arabica Coffee Beans 1kg", "Harvest Table", 21.99, "coffee",
         "Medium-roast whole beans with notes of chocolate and caramel."),
        ("Green Tea 100 Bags", "Green Valley", 6.99, "tea organic",
         "Organic Japanese sencha green tea in biodegradable bags."),
        ("Basmati Rice 5kg", "Daily Pantry", 12.49, "pantry rice",
         "Aged long-grain basmati that cooks up light and fluffy."),
        ("Dark Chocolate 70% 100g", "Harvest Table", 3.49, "snacks chocolate",
         "Single-origin dark chocolate with fair-trade cocoa."),
        ("Roasted Almonds 500g", "Daily Pantry", 8.99, "snacks nuts",
         "Dry-roasted, lightly salted almonds for healthy snacking."),
        ("Durum Wheat Spaghetti 1kg", "Daily Pantry", 2.79, "pantry pasta",
         "Bronze-cut Italian spaghetti with a rough texture that holds sauce."),
        ("Pure Maple Syrup 250ml", "Green Valley", 11.99, "breakfast",
         "Grade A amber maple syrup from Quebec."),
        ("Barista Oat Milk 6 x 1L", "Green Valley", 15.49, "dairy-free drinks",
         "Creamy oat milk that foams perfectly for lattes."),
        ("Honey Nut Granola 750g", "Harvest Table", 5.99, "breakfast cereal",
         "Oven-baked clusters with almonds, oats and a touch of honey."),
    ]),
    "mens-shirts": ("MSH", "#0f766e", "mens", [
        ("Classic Oxford Button-Down Shirt", "Harbor & Co", 49.00, "shirt cotton",
         "A wardrobe staple in breathable cotton Oxford cloth."),
        ("Slim Fit Dress Shirt", "Tailorfit", 59.00, "shirt formal",
         "A non-iron dress shirt with a spread collar and a tailored fit."),
        ("Linen Short Sleeve Shirt", "Harbor & Co", 44.99, "shirt summer linen",
         "Lightweight pure linen that keeps you cool on hot days."),
        ("Brushed Flannel Check Shirt", "Northline", 39.99, "shirt flannel",
         "Soft brushed cotton flannel in a classic red-and-black check."),
        ("Denim Work Shirt", "Northline", 54.00, "shirt denim",
         "A rugged chambray-denim shirt with snap buttons."),
        ("Pique Polo Shirt", "Harbor & Co", 34.99, "polo",
         "A classic cotton pique polo with a ribbed collar."),
        ("Crew Neck T-Shirt 3-Pack", "Northline", 29.99, "t-shirt basics",
         "Three heavyweight cotton tees in white, grey and navy."),
        ("Waffle Knit Henley", "Northline", 36.00, "long-sleeve",
         "A textured waffle-knit henley for easy layering."),
        ("Tropical Print Camp Shirt", "Harbor & Co", 42.00, "shirt summer",
         "A relaxed camp-collar shirt in a bold tropical print."),
        ("Performance Golf Polo", "Tailorfit", 48.00, "polo sport",
         "Moisture-wicking stretch fabric with UPF 40 sun protection."),
    ]),
    "womens-dresses": ("WDR", "#db2777", "womens", [
        ("Floral Midi Wrap Dress", "Elora", 79.00, "dress floral",
         "A flattering wrap silhouette in a flowing floral print."),
        ("Little Black Dress", "Bellamy", 89.00, "dress evening",
         "A timeless sheath dress in stretch crepe, perfect for any occasion."),
        ("Linen Maxi Dress", "Sunday Rose", 95.00, "dress summer linen",
         "An airy linen maxi with adjustable straps and side pockets."),
        ("Ribbed Knit Sweater Dress", "Elora", 69.00, "dress knit",
         "A cosy midi-length sweater dress with a mock neck."),
        ("Satin Slip Dress", "Bellamy", 74.00, "dress evening satin",
         "A bias-cut satin slip dress with a delicate cowl neckline."),
        ("Denim Shirt Dress", "Sunday Rose", 64.00, "dress denim",
         "A button-through shirt dress with a tie belt."),
        ("Boho Tiered Sundress", "Sunday Rose", 58.00, "dress summer boho",
         "A breezy cotton sundress with tiered ruffles and smocking."),
        ("Sequin Party Dress", "Bellamy", 129.00, "dress party",
         "An all-over sequin mini dress made for celebrations."),
        ("Ribbed Bodycon Dress", "Elora", 45.00, "dress casual",
         "A figure-hugging ribbed jersey dress for everyday wear."),
        ("Pleated Chiffon Midi Dress", "Elora", 84.00, "dress occasion",
         "Soft chiffon pleats and a defined waist for weddings and events."),
    ]),
    "sports-accessories": ("SPO", "#059669", "sports", [
        ("Non-Slip Yoga Mat 6mm", "Peakform", 29.99, "yoga fitness",
         "A cushioned, non-slip TPE mat with alignment lines."),
        ("Adjustable Dumbbell Set 24kg", "Peakform", 249.00, "weights strength",
         "Quickly dial the weight from 2.5 to 24 kg per dumbbell."),
        ("Resistance Bands Set", "Peakform", 19.99, "fitness",
         "Five latex bands with handles, ankle straps and a door anchor."),
        ("Insulated Water Bottle 750ml", "Stridex", 24.99, "hydration",
         "Double-wall steel keeps drinks cold for 24 hours or hot for 12."),
        ("Speed Jump Rope", "Stridex", 12.99, "cardio",
         "Ball-bearing handles and an adjustable steel cable for fast skipping."),
        ("High-Density Foam Roller", "Peakform", 22.00, "recovery",
         "A firm foam roller for post-workout muscle recovery."),
        ("Graphite Tennis Racket", "Courtline", 119.00, "tennis",
         "A lightweight 300 g graphite racket for control and spin."),
        ("Match Soccer Ball Size 5", "Courtline", 29.99, "soccer",
         "A thermally bonded match ball with consistent flight."),
        ("Official Size Basketball", "Courtline", 34.99, "basketball",
         "A composite leather ball with deep channels for grip."),
        ("Ventilated Cycling Helmet", "Stridex", 59.99, "cycling safety",
         "A lightweight in-mould helmet with 18 vents and a dial fit system."),
        ("Gym Duffel Bag 40L", "Stridex", 39.99, "bags",
         "A water-resistant duffel with a ventilated shoe compartment."),
        ("Running Armband Phone Holder", "Stridex", 14.99, "running",
         "A sweat-proof armband that fits phones up to 6.8 inches."),
    ]),
    "sunglasses": ("SUN", "#ca8a04", "sunglasses", [
        ("Classic Aviator Sunglasses", "Solara", 129.00, "aviator polarized",
         "Gold metal frames with polarized green lenses and full UV400 protection."),
        ("Polarized Square Sunglasses", "Solara", 99.00, "polarized",
         "Square acetate frames that reduce glare from water and roads."),
        ("Round Retro Sunglasses", "Vistara", 59.00, "retro",
         "Thin wire round frames with gradient lenses."),
        ("Sport Wraparound Sunglasses", "Vistara", 79.00, "sport",
         "Lightweight wraparound frames with rubber nose pads that stay put."),
        ("Cat-Eye Sunglasses", "Shade & Co", 49.00, "womens fashion",
         "A playful cat-eye acetate frame in tortoiseshell."),
        ("Oversized Square Sunglasses", "Shade & Co", 45.00, "fashion",
         "Oversized frames with dark smoke lenses for maximum coverage."),
        ("Kids Polarized Sunglasses", "Vistara", 24.99, "kids polarized",
         "Flexible, unbreakable frames sized for children aged 3 to 8."),
        ("Browline Sunglasses", "Solara", 109.00, "classic",
         "A half-rim browline frame with crystal-clear polarized lenses."),
        ("Mirrored Shield Sunglasses", "Shade & Co", 39.00, "mirrored sport",
         "A single-lens shield with a blue mirror coating."),
    ]),
}

SECOND_SENTENCES = [
    "Backed by a two-year warranty.",
    "Ships free within 2 business days.",
    "A customer favourite in its category.",
    "Comes with a 30-day no-questions-asked return policy.",
    "Available in several colours while stock lasts.",
    "Thoughtfully packaged in recyclable materials.",
]

FIRST_NAMES = [
    "Emma", "Liam", "Olivia", "Noah", "Ava", "Ethan", "Sophia", "Lucas",
    "Mia", "Mason", "Isabella", "Logan", "Amelia", "James", "Harper",
    "Benjamin", "Evelyn", "Elijah", "Chloe", "Daniel", "Grace", "Henry",
    "Zoe", "Samuel", "Lily", "David", "Nora", "Jack", "Hannah", "Owen",
]
LAST_NAMES = [
    "Smith", "Johnson", "Brown", "Garcia", "Miller", "Davis", "Martinez",
    "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Jackson", "Martin",
    "Lee", "Thompson", "White", "Harris", "Clark", "Lewis", "Walker",
    "Hall", "Young", "King", "Wright", "Scott", "Green", "Baker", "Adams",
    "Nelson",
]

COMMENTS = {
    5: [
        "Absolutely love it, exceeded my expectations!",
        "Excellent quality, would buy again.",
        "Fantastic value for the price.",
        "Works perfectly, highly recommend.",
        "Arrived quickly and looks even better in person.",
        "Best purchase I've made this year.",
        "Five stars, no complaints at all.",
        "Great build quality and very easy to use.",
    ],
    4: [
        "Very good overall, just a few minor quirks.",
        "Solid product, does exactly what it says.",
        "Good quality for the money.",
        "Happy with it, though delivery took a while.",
        "Nice design, works well so far.",
        "Would recommend, almost perfect.",
    ],
    3: [
        "It's okay, nothing special.",
        "Decent, but I expected a bit more.",
        "Average quality for the price.",
        "Does the job, but the packaging was damaged.",
        "Mixed feelings, some good and some bad.",
    ],
    2: [
        "Not great, the quality feels cheap.",
        "Disappointed, it didn't match the description.",
        "Stopped working properly after a few weeks.",
        "Smaller than I expected.",
    ],
    1: [
        "Very poor quality, would not recommend.",
        "Arrived broken and support was unhelpful.",
        "Complete waste of money.",
        "Returned it the same day.",
    ],
}
RATING_WEIGHTS = {5: 42, 4: 32, 3: 14, 2: 7, 1: 5}
TARGET_REVIEWS = 300


def brand_code(brand: str) -> str:
    letters = [c for c in brand.upper() if c.isalpha()]
    return "".join(letters[:3])


def build_products(rng: random.Random) -> list[dict]:
    products: list[dict] = []
    for slug, (code, _colour, base_tag, items) in CATEGORIES.items():
        for title, brand, price, extra, desc in items:
            if rng.random() < 0.35:
                desc = f"{desc} {rng.choice(SECOND_SENTENCES)}"
            if rng.random() < 0.25:
                discount = 0.0
            else:
                discount = round(rng.uniform(2, 30), 2)
            stock = 0 if rng.random() < 0.05 else rng.randint(1, 200)
            tags: list[str] = []
            for tag in [base_tag, *extra.split()]:
                if tag not in tags:
                    tags.append(tag)
            image = f"/uploads/demo/{slug}.svg"
            products.append({
                "title": title,
                "description": desc,
                "price": round(price, 2),
                "discountPercentage": discount,
                "stock": stock,
                "brand": brand,
                "category": slug,
                "tags": tags[:4],
                "sku": f"{code}-{brand_code(brand)}-{len(products) + 1:04d}",
                "thumbnail": image,
                "images": [image],
            })
    return products


def build_reviews(rng: random.Random, n_products: int) -> list[dict]:
    # Roughly 12% of products get no reviews at all.
    reviewed = sorted(rng.sample(range(n_products), k=round(n_products * 0.88)))
    # Popularity weights so some products collect many reviews, others few.
    weights = [rng.choice([1, 1, 1, 2, 2, 3, 4]) for _ in reviewed]
    ratings = list(RATING_WEIGHTS)
    rating_w = list(RATING_WEIGHTS.values())

    seen: set[tuple[int, str]] = set()
    reviews: list[dict] = []
    # Ensure each reviewed product gets at least one review, then fill up.
    queue = list(reviewed) + rng.choices(reviewed, weights=weights,
                                         k=TARGET_REVIEWS - len(reviewed))
    for product in queue:
        while True:
            first = rng.choice(FIRST_NAMES)
            last = rng.choice(LAST_NAMES)
            email = f"{first.lower()}.{last.lower()}@example.com"
            if (product, email) not in seen:
                seen.add((product, email))
                break
        rating = rng.choices(ratings, weights=rating_w)[0]
        reviews.append({
            "product": product,
            "rating": rating,
            "comment": rng.choice(COMMENTS[rating]),
            "reviewerName": f"{first} {last}",
            "reviewerEmail": email,
            "daysAgo": rng.randint(1, 365),
        })
    reviews.sort(key=lambda r: (r["product"], -r["daysAgo"]))
    return reviews


def svg_for(slug: str, colour: str) -> str:
    label = slug.replace("-", " ").title()
    size = 40 if len(label) <= 12 else 32
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="400" '
        'viewBox="0 0 400 400">\n'
        f'  <rect width="400" height="400" rx="32" fill="{colour}"/>\n'
        '  <rect x="24" y="24" width="352" height="352" rx="20" fill="none" '
        'stroke="#fff" stroke-opacity=".35" stroke-width="4"/>\n'
        '  <text x="200" y="200" fill="#fff" font-family="Helvetica, Arial, sans-serif" '
        f'font-size="{size}" font-weight="600" text-anchor="middle" '
        f'dominant-baseline="middle">{label}</text>\n'
        '</svg>\n'
    )


def main() -> None:
    rng = random.Random(SEED)
    products = build_products(rng)
    reviews = build_reviews(rng, len(products))

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    catalog = {"products": products, "reviews": reviews}
    (OUT_DIR / "catalog.json").write_text(
        json.dumps(catalog, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for slug, (_code, colour, _tag, _items) in CATEGORIES.items():
        (OUT_DIR / f"{slug}.svg").write_text(svg_for(slug, colour), encoding="utf-8")

    print(f"wrote {len(products)} products, {len(reviews)} reviews, "
          f"{len(CATEGORIES)} category images to {OUT_DIR}")


if __name__ == "__main__":
    main()
