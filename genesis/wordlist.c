#include "genesis/wordlist.h"

#include <errno.h>
#include <string.h>

/* Written for this project, not taken from a published list. Each entry is
 * zero-padded to WORDLIST_MAX_LEN + 1 bytes, so a memcmp of whole entries
 * orders them as strcmp would. */
static const char words[][WORDLIST_MAX_LEN + 1] = {
	"aardvark", "abacus", "abbey", "acorn", "acrobat", "actor", "admiral", "airport",
	"airship", "album", "almond", "alpaca", "amber", "anchor", "anchovy", "anteater",
	"antelope", "antenna", "anthem", "antler", "anvil", "apple", "apricot", "apron",
	"aquarium", "arch", "arena", "armchair", "arrow", "artist", "aspen", "asteroid",
	"atlas", "attic", "author", "avenue", "avocado", "axle", "azure", "baboon",
	"backpack", "backyard", "bacon", "badger", "bagel", "bagpipe", "bakery", "balcony",
	"ballad", "balloon", "bamboo", "banana", "bandage", "banjo", "banner", "barber",
	"barge", "barley", "barnacle", "barrel", "baseball", "basement", "basil", "basket",
	"bassoon", "bathtub", "battery", "beach", "bean", "bedroom", "beetle", "beige",
	"belt", "beluga", "beret", "bicycle", "bingo", "birch", "biscuit", "bishop",
	"bison", "blanket", "blazer", "blender", "blimp", "blizzard", "blossom", "blouse",
	"bluebird", "bobcat", "bonfire", "bonnet", "bookcase", "boot", "botanist", "bottle",
	"boutique", "bowl", "boxing", "bracelet", "branch", "bread", "breeze", "brewery",
	"bridge", "bronze", "broom", "brownie", "brush", "bubble", "bucket", "buckle",
	"buffalo", "buggy", "bugle", "bull", "bundle", "bungalow", "bunker", "bunny",
	"burger", "burlap", "burrito", "butcher", "butter", "button", "buzzard", "cabbage",
	"cabin", "caboose", "cactus", "cake", "calcium", "calendar", "calf", "camel",
	"camera", "canal", "canary", "candle", "candy", "canoe", "canteen", "canyon",
	"captain", "caramel", "cardigan", "cargo", "caribou", "carnival", "carp", "carriage",
	"carton", "cashew", "cashier", "cassette", "castle", "catapult", "catfish", "celery",
	"chainsaw", "chair", "chalet", "chalice", "chalk", "channel", "chapel", "charcoal",
	"chariot", "cheese", "cheetah", "chef", "chemist", "cherry", "chess", "chestnut",
	"chicken", "chimney", "chimp", "chipmunk", "chisel", "chorus", "chowder", "church",
	"cider", "cinema", "circus", "city", "clam", "clarinet", "cleaver", "clerk",
	"cliff", "clinic", "clock", "clog", "closet", "cloud", "clover", "coast",
	"cobalt", "cobra", "cocoa", "coconut", "cocoon", "coffee", "collar", "collie",
	"colt", "column", "comb", "comet", "comic", "compass", "composer", "computer",
	"concert", "condor", "confetti", "console", "convoy", "cookie", "cooler", "copper",
	"coral", "corridor", "cottage", "cotton", "couch", "coupon", "cowboy", "coyote",
	"crab", "cradle", "crane", "crayfish", "crayon", "cream", "cricket", "crimson",
	"crowbar", "crown", "crumble", "crystal", "cuckoo", "cucumber", "cuff", "cupcake",
	"curry", "curtain", "cushion", "custard", "cycling", "cyclone", "cypress", "daisy",
	"dancer", "delta", "denim", "dentist", "desk", "diamond", "diary", "diner",
	"disco", "discus", "doctor", "doghouse", "doll", "dolphin", "domino", "doorbell",
	"doormat", "dove", "dragon", "drawer", "dress", "drill", "driveway", "drizzle",
	"drum", "dumpling", "dune", "dungeon", "dust", "duvet", "eagle", "earring",
	"ebony", "eclipse", "editor", "eggplant", "emblem", "emerald", "emperor", "empress",
	"engine", "envelope", "equator", "eraser", "explorer", "factory", "falcon", "fang",
	"farm", "faucet", "feather", "fence", "fencing", "fern", "ferret", "ferry",
	"festival", "fiddle", "finch", "firefly", "firewood", "firework", "flag", "flamingo",
	"flannel", "flask", "flint", "florist", "floss", "flute", "foal", "folder",
	"football", "forest", "forge", "fork", "fortress", "frame", "freezer", "freight",
	"frog", "frost", "fungus", "funnel", "galaxy", "garage", "garden", "garlic",
	"gazebo", "gazelle", "gear", "gecko", "gelato", "genie", "gerbil", "giant",
	"ginger", "giraffe", "glacier", "glider", "glove", "goat", "goblet", "goblin",
	"gold", "gondola", "gong", "goose", "gopher", "granite", "granola", "grape",
	"grass", "grater", "gravy", "griddle", "grocer", "grotto", "grouse", "guard",
	"guava", "guide", "guitar", "gumdrop", "hacksaw", "halibut", "hallway", "hammer",
	"hammock", "hamster", "harmony", "harness", "harpoon", "hatchet", "hawk", "hazelnut",
	"hedgehog", "helium", "helmet", "heron", "herring", "hickory", "highway", "hill",
	"hinge", "hippo", "hockey", "holly", "honey", "hood", "horizon", "hornet",
	"hospital", "hotel", "hound", "hunter", "hurdle", "husky", "hutch", "hydrant",
	"hyena", "iceberg", "icicle", "igloo", "iguana", "impala", "indigo", "inventor",
	"iris", "iron", "island", "ivory", "jackal", "jacket", "jade", "jaguar",
	"janitor", "jasmine", "javelin", "jazz", "jelly", "jersey", "jester", "jetty",
	"jewel", "jigsaw", "jogging", "journal", "joystick", "judge", "judo", "juggler",
	"juice", "jukebox", "jungle", "juniper", "kangaroo", "karate", "kayak", "kazoo",
	"keel", "kelp", "kennel", "kettle", "keyboard", "keyhole", "kiln", "kimono",
	"king", "kiosk", "kitchen", "kite", "kitten", "kiwi", "koala", "lace",
	"ladder", "ladle", "ladybug", "lagoon", "lamp", "lantern", "laptop", "lark",
	"laser", "latch", "laundry", "laurel", "lavender", "lawyer", "leaf", "legend",
	"lemon", "lemur", "lentil", "leopard", "letter", "lettuce", "lever", "library",
	"lifeboat", "lilac", "lily", "lime", "linen", "lion", "lipstick", "lithium",
	"llama", "loafer", "lobby", "lobster", "locker", "locust", "lodge", "lollipop",
	"loom", "lotion", "lottery", "lotus", "lullaby", "macaroni", "macaw", "mackerel",
	"magazine", "magenta", "magician", "magnet", "magnolia", "magpie", "mailbox", "manatee",
	"mandolin", "mango", "mangrove", "mansion", "maple", "marathon", "marble", "marigold",
	"marina", "market", "marmot", "maroon", "marsh", "mast", "matchbox", "mattress",
	"mauve", "maze", "meadow", "meatball", "mechanic", "meerkat", "melody", "melon",
	"memorial", "mermaid", "meteor", "midnight", "midwife", "milk", "minnow", "mint",
	"mirror", "mixer", "mongoose", "monitor", "monkey", "monsoon", "monument", "moonbeam",
	"mosaic", "moss", "moth", "motor", "mountain", "mouse", "muffin", "mule",
	"mural", "museum", "mushroom", "napkin", "narwhal", "navy", "nebula", "necklace",
	"necktie", "needle", "neon", "newt", "nickel", "ninja", "noodle", "notebook",
	"nougat", "novel", "nozzle", "nursery", "nutmeg", "oasis", "oatmeal", "obelisk",
	"oboe", "ocean", "ocelot", "octopus", "office", "ogre", "olive", "onion",
	"opal", "opera", "orange", "orbit", "orca", "orchard", "orchid", "organ",
	"osprey", "ostrich", "otter", "oven", "overcoat", "oxygen", "oyster", "package",
	"padlock", "pagoda", "palace", "palm", "pancake", "panda", "panther", "pantry",
	"papaya", "paper", "paprika", "parade", "parakeet", "parcel", "parka", "parrot",
	"parsley", "parsnip", "passport", "pasta", "pasture", "path", "patio", "pavilion",
	"pawn", "peacock", "peanut", "pearl", "pebble", "pecan", "pelican", "pencil",
	"pendant", "penguin", "pepper", "perfume", "pharmacy", "pheasant", "phone", "photo",
	"piano", "piccolo", "pickle", "pickup", "picnic", "pigeon", "pike", "pillar",
	"pillow", "pilot", "pinecone", "pinwheel", "piranha", "pirate", "piston", "pitcher",
	"pixie", "pizza", "planet", "plankton", "plantain", "plate", "platter", "platypus",
	"playpen", "plaza", "plumber", "poem", "polka", "poncho", "pony", "popcorn",
	"poplar", "porch", "porridge", "porthole", "portrait", "possum", "postcard", "poster",
	"potato", "prairie", "pretzel", "princess", "printer", "prune", "pudding", "puddle",
	"pulley", "puma", "pumpkin", "puppet", "puppy", "purse", "puzzle", "pyramid",
	"python", "quail", "quarry", "queen", "quilt", "quiver", "rabbit", "raccoon",
	"radar", "radio", "radish", "raft", "rainbow", "raincoat", "raindrop", "raisin",
	"rancher", "ranger", "rattle", "raven", "razor", "recorder", "reef", "referee",
	"reindeer", "relay", "reporter", "rhino", "rhubarb", "ribbon", "rice", "rickshaw",
	"river", "robe", "robin", "robot", "rocket", "rodeo", "rook", "rooster",
	"rosemary", "rowing", "ruby", "rudder", "ruler", "saddle", "saffron", "sage",
	"sailboat", "sailor", "salad", "salami", "salmon", "samurai", "sandal", "sandwich",
	"sapling", "sapphire", "sardine", "satchel", "satin", "saucepan", "saucer", "sausage",
	"scallop", "scarf", "scarlet", "school", "scooter", "scorpion", "scout", "sculptor",
	"seagull", "seahorse", "seaweed", "seed", "seesaw", "shampoo", "shark", "shawl",
	"sheep", "shelf", "shepherd", "sheriff", "shield", "shirt", "shovel", "shower",
	"shrimp", "shrine", "shrub", "shutter", "shuttle", "sidewalk", "silo", "silver",
	"sirloin", "skate", "sketch", "skewer", "skillet", "skunk", "skylight", "sleet",
	"sleeve", "slide", "slipper", "slope", "sloth", "slug", "smoothie", "snail",
	"sneaker", "snorkel", "snow", "soccer", "sock", "sodium", "sofa", "sonata",
	"soup", "spaniel", "spanner", "sparkler", "sparrow", "spatula", "spider", "spinach",
	"spire", "spoke", "sponge", "spoon", "spring", "sprout", "spruce", "square",
	"squash", "squid", "squirrel", "stadium", "stag", "stallion", "stamp", "stapler",
	"starfish", "starling", "station", "statue", "steeple", "stew", "stirrup", "stocking",
	"stone", "stool", "storm", "straw", "stream", "street", "stroller", "suburb",
	"subway", "sugar", "suitcase", "summit", "sunbeam", "sundial", "sunrise", "sunset",
	"sunshine", "surgeon", "sushi", "swallow", "swan", "sweater", "swing", "switch",
	"symphony", "syrup", "tabby", "table", "taco", "tadpole", "tandem", "tankard",
	"tapestry", "tavern", "taxi", "teacher", "teacup", "teapot", "teddy", "temple",
	"tennis", "tent", "termite", "terrace", "terrier", "textbook", "thimble", "thorn",
	"thread", "thunder", "tiara", "ticket", "tiger", "tissue", "toaster", "toboggan",
	"tofu", "token", "tomato", "toolbox", "toolkit", "topaz", "tortilla", "tortoise",
	"toucan", "tower", "town", "tractor", "train", "tray", "treasure", "trellis",
	"triangle", "trolley", "trombone", "trophy", "trout", "trowel", "truck", "truffle",
	"trumpet", "tugboat", "tulip", "tuna", "tundra", "turkey", "turnip", "turret",
	"turtle", "tusk", "tutor", "tuxedo", "tweed", "twig", "twilight", "umbrella",
	"umpire", "unicorn", "unicycle", "vacuum", "valley", "valve", "vanilla", "vault",
	"veal", "velvet", "venison", "vest", "viking", "village", "vinegar", "vineyard",
	"vinyl", "violet", "violin", "viper", "visor", "vitamin", "volcano", "vulture",
	"waffle", "wagon", "wallaby", "wallet", "walnut", "walrus", "waltz", "wardrobe",
	"wasp", "weasel", "weaver", "wedge", "welder", "wharf", "wheat", "wheel",
	"whisk", "whistle", "windmill", "window", "wire", "wizard", "wolf", "wombat",
	"woodland", "wool", "worm", "wrench", "yarn", "zebra", "zinc", "zipper",
};

_Static_assert(sizeof(words) / sizeof(words[0]) == WORDLIST_SIZE,
	       "the word list must hold exactly WORDLIST_SIZE words");

const char *wordlist_word(unsigned int index)
{
	if (index >= WORDLIST_SIZE)
		return NULL;
	return words[index];
}

int wordlist_index(const char *word, size_t len)
{
	char key[WORDLIST_MAX_LEN + 1] = { 0 };
	unsigned int lo = 0, hi = WORDLIST_SIZE;

	if (len < WORDLIST_MIN_LEN || len > WORDLIST_MAX_LEN || memchr(word, '\0', len))
		return -ENOENT;
	memcpy(key, word, len);
	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		int cmp = memcmp(key, words[mid], sizeof(key));

		if (!cmp)
			return (int)mid;
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -ENOENT;
}
