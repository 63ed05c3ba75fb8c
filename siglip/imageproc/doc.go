// Package imageproc turns image files into the pixel tensors a SigLIP
// vision tower reads, reproducing Hugging Face's Gemma3ImageProcessor
// (GEMMA3.md §7) including its uint8 intermediate results.
//
// The steps are:
//
//   - Decode reads PNG, JPEG, GIF (first frame) or WebP, refusing enormous
//     images from their header before any pixel is allocated, applies the
//     EXIF orientation and converts to RGB as transformers' load_image does
//     (PIL's exif_transpose, then convert("RGB")). ToRGB does the conversion
//     alone for an image decoded elsewhere.
//   - Resize scales to N×N without keeping the aspect ratio, with
//     antialiased bilinear resampling: a triangle filter whose support grows
//     with the downscale factor, applied horizontally then vertically with
//     fixed-point weights and a uint8 result after each pass. This is PIL's
//     BILINEAR algorithm with the weight precision of torch's uint8 kernel,
//     which transformers 5 uses; the two differ by one level on about one
//     value in 500.
//   - Preprocess resizes, rescales by 1/255 and normalizes with mean 0.5 and
//     std 0.5, giving float32 CHW planes in [-1, 1]. With Pan & Scan
//     (GEMMA3.md §7.1) the crops of CropRects follow the whole image.
//
// The outputs are bit-identical to transformers 5.17's Gemma3ImageProcessor
// (torchvision backend) on the PNG fixtures of testdata.
//
// The package knows nothing of models or prompts: how many tokens an image
// becomes and where they go is the caller's business.
package imageproc
