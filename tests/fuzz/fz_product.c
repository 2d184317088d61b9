/*
 * fz_product: the YAML data-product descriptor parser (dp_product_parse),
 * what `meshctl product apply` and the registry's catalog PUT read.
 * Input: one descriptor.  It is parsed as if it lay in
 * examples/ecommerce/orders/ (FZ_PRODUCT_DIR, set by the Makefile), so
 * the schema files it names can be found and their Avro parsed too.
 * Checks: no crash; a refusal names the descriptor; an accepted product
 * renders as catalog JSON (dp_product_to_json), which is what the
 * registry stores.
 */
#include "fz.h"

#include "dp_product.h"

#ifndef FZ_PRODUCT_DIR
#define FZ_PRODUCT_DIR "examples/ecommerce/orders"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char path[] = FZ_PRODUCT_DIR "/fuzz.yaml";
    mw_err_t err = {0};
    char *text = fz_dup((const char *)data, size);
    dp_product_t *prod = dp_product_parse(text, size, path, &err);

    free(text);
    if (!prod) {
        if (!err.msg[0])
            fz_fail("a descriptor refused without a message");
        return 0;
    }
    json_t *j = dp_product_to_json(prod);
    if (!j)
        fz_fail("an accepted product has no catalog JSON");
    char *dump = json_dumps(j, JSON_COMPACT);
    if (!dump)
        fz_fail("the catalog JSON does not serialise");
    free(dump);
    json_decref(j);
    dp_product_destroy(prod);
    return 0;
}
